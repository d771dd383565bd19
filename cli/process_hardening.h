// Process hygiene for key material (docs/process-hygiene.md), applied first thing in main, before
// any thread starts and before any key is read:
//   - no core file (RLIMIT_CORE 0, soft and hard) and not dumpable (PR_SET_DUMPABLE 0): no ptrace
//     by other processes of the same user, /proc/PID/{environ,mem,maps} owned by root;
//   - OpenSSL's secure heap (mmap'd arena, mlock, MADV_DONTDUMP, guard pages), from which every
//     SecretBytes is then allocated while it has room (engine/secret.h).
// What the system refuses is reported, never fatal: the binary works without any of it.
//
// Thread-safety: call once, from the main thread, before any other thread exists.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace udmg::cli {

// The arena asked for (a power of two). Shrunk to fit RLIMIT_MEMLOCK when mlock is refused.
inline constexpr size_t kSecureHeapBytes = 128 * 1024;
// Smaller than this, the arena is kept unlocked (still not dumped) rather than shrunk further.
inline constexpr size_t kSecureHeapMinBytes = 16 * 1024;

// AddressSanitizer cannot see overflows inside the secure heap's arena (its own allocator on
// mmap'd memory): an ASan build keeps SecretBytes on the instrumented heap.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSecureHeapInThisBuild = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSecureHeapInThisBuild = false;
#else
inline constexpr bool kSecureHeapInThisBuild = true;
#endif
#else
inline constexpr bool kSecureHeapInThisBuild = true;
#endif

enum class SecureHeapState {
  kLocked,    // in the arena, locked in RAM
  kUnlocked,  // in the arena, but mlock was refused: not dumped, may be swapped
  kOff,       // not initialised (refused, or an AddressSanitizer build: see the docs)
};

struct HardeningReport {
  bool core_dumps_off = false;
  bool not_dumpable = false;
  SecureHeapState secure_heap = SecureHeapState::kOff;
  size_t secure_heap_bytes = 0;
  // What the system refused, each a short clause without a prefix; empty when all went through.
  std::vector<std::string> refusals;

  // One line for stderr ("process hardening incomplete: ..."), "" when nothing was refused.
  std::string WarningLine() const;
};

HardeningReport HardenProcess();

}  // namespace udmg::cli
