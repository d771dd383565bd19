#include "cli/heap_reuse.h"

#include <malloc.h>

namespace udmg::cli {

void KeepFreedHeapForReuse() {
  // Fixed thresholds also turn off glibc's dynamic ones. 32 MiB is the largest mmap threshold
  // glibc accepts on 64-bit (half a thread arena); only larger blocks are mmap'd. A failure
  // leaves the defaults: slower, never wrong.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

}  // namespace udmg::cli
