// How freed heap memory is kept: applied first thing in main, before any thread starts.
//
// A batch's buffers (the rows read, the arrays of values sent to PostgreSQL) are hundreds of KiB
// each on tables of large values. With glibc's defaults such a buffer is mmap'd and unmapped, or
// trimmed from a thread's arena with MADV_DONTNEED, once per batch, and every page of the next
// one faults in again: half the client's CPU time on PostgreSQL with values of up to 4 KiB
// (docs/performance.md). Kept instead, freed memory is reused by the next batch; the process
// holds on to its peak (a few tens of MiB), which it reaches in the first batches anyway.
//
// Thread-safety: call once, from the main thread, before any other thread exists.
#pragma once

namespace udmg::cli {

void KeepFreedHeapForReuse();

}  // namespace udmg::cli
