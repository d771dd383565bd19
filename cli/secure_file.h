// Files that hold key material (a backup, a written K0): created 0600 and atomically, so a reader
// never sees half a file and a crash never leaves a truncated one (docs/security.md), and never written
// over an existing file unless the operator asked (--force). Reading is bounded.
//
// Thread-safety: free functions, no shared state (two writers of one path: one wins, the other
// gets kBadInput without --force; with --force the last rename wins).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg::cli {

// Owns a file descriptor: closed on scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error (close can report a deferred write error).
  bool Close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Reads `fd` to its end, or `limit` bytes, with read(2) into one wiped buffer: no stdio or
// iostream buffer keeps a copy of a key or passphrase. nullopt on a read error (errno says why).
std::optional<SecretBytes> ReadSecretUpTo(int fd, size_t limit);

// Opens, for reading, a file that holds a secret (a key, a passphrase, a token) given as
// `flag PATH`: refuses a directory and a regular file that group or others can access (as ssh
// does; pipes are accepted). Errors carry `code`. A path that cannot be opened is not shown: an
// operator who put the secret itself where its file was expected must not see it echoed.
Result<ScopedFd> OpenSecretFile(const std::string& path, std::string_view flag, ErrorCode code);

// kBadInput "PATH exists: pass --force to replace it" when `path` exists (as anything, even a
// dangling symlink) and `force` is false. Lets a command refuse before it does any work.
Status CheckCanCreate(const std::string& path, bool force);

// Writes `data` to `path` with mode 0600: a temp file created O_EXCL in the same directory,
// written, fsynced, renamed over `path` (without `force`: only if `path` does not exist, checked
// atomically by the rename), then the directory fsynced. On failure the temp file is removed and
// `path` is as it was. kBadInput when the directory cannot take the file (missing, not writable),
// or `path` exists without `force`; kInternal when a write or fsync fails.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data, bool force);

// The whole file, at most `max_bytes`: kNotFound when it does not exist, kBadInput when it is
// larger, not a regular file, or unreadable. `what` names it in messages ("--input backup.udmg").
Result<std::vector<uint8_t>> ReadFileBounded(const std::string& path, size_t max_bytes,
                                             const std::string& what);

}  // namespace udmg::cli
