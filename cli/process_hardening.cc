#include "cli/process_hardening.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace udmg::cli {
namespace {

// The secure heap's smallest block: two pointers (its free-list node).
constexpr size_t kSecureHeapMinBlock = 16;

std::string Errno(int error) { return std::strerror(error); }

// The largest power of two within the soft RLIMIT_MEMLOCK; 0 when unknown or unlimited.
size_t ArenaWithinMemlockLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  size_t size = 1;
  while (size * 2 <= limit.rlim_cur) size *= 2;
  return limit.rlim_cur == 0 ? 0 : size;
}

std::string MemlockLimitText() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(limit.rlim_cur) + " bytes";
}

void DisableCoreDumps(HardeningReport& report) {
  const rlimit none{0, 0};  // the hard limit too: nothing in this process can raise it again
  if (setrlimit(RLIMIT_CORE, &none) == 0) {
    report.core_dumps_off = true;
  } else {
    report.refusals.push_back("core dumps stay possible (setrlimit RLIMIT_CORE: " + Errno(errno) +
                              ")");
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0) {
    report.not_dumpable = true;
  } else {
    report.refusals.push_back("the process stays dumpable and traceable (prctl PR_SET_DUMPABLE: " +
                              Errno(errno) + ")");
  }
}

// CRYPTO_secure_malloc_init: 1 locked, 2 arena made but mlock refused, 0 failed.
void StartSecureHeap(HardeningReport& report) {
  if (!kSecureHeapInThisBuild) return;
  size_t size = kSecureHeapBytes;
  int started = CRYPTO_secure_malloc_init(size, kSecureHeapMinBlock);
  if (started == 2) {
    // Refused for size: retry with what RLIMIT_MEMLOCK allows (nothing is allocated yet).
    const size_t fits = ArenaWithinMemlockLimit();
    if (fits >= kSecureHeapMinBytes && fits < size && CRYPTO_secure_malloc_done() == 1) {
      size = fits;
      started = CRYPTO_secure_malloc_init(size, kSecureHeapMinBlock);
    }
  }
  if (started == 0) {
    report.refusals.push_back("no secure heap for keys (CRYPTO_secure_malloc_init failed)");
    return;
  }
  report.secure_heap_bytes = size;
  report.secure_heap = started == 1 ? SecureHeapState::kLocked : SecureHeapState::kUnlocked;
  if (started == 2) {
    report.refusals.push_back("key memory is not locked and may be swapped (mlock refused, "
                              "RLIMIT_MEMLOCK " + MemlockLimitText() + ")");
  }
}

}  // namespace

std::string HardeningReport::WarningLine() const {
  if (refusals.empty()) return "";
  std::string line = "process hardening incomplete: ";
  for (size_t i = 0; i < refusals.size(); ++i) line += (i == 0 ? "" : "; ") + refusals[i];
  return line;
}

HardeningReport HardenProcess() {
  HardeningReport report;
  DisableCoreDumps(report);
  StartSecureHeap(report);
  return report;
}

}  // namespace udmg::cli
