// A fresh temp directory for one test, removed with everything in it afterwards.
//
// Thread-safety: a TempDir is used from one thread at a time.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace udmg::testing {

// A directory under the system temp dir ($TMPDIR, else /tmp) named `prefix` and six random
// characters; a test failure (ADD_FAILURE, and an empty path()) when it cannot be made. Keep
// prefixes short: tests bind Unix sockets inside, and a socket path is limited to 107 bytes.
// The destructor gives the owner rwx on the directory back (tests make it read-only) and
// removes it recursively, ignoring errors.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "udmg-test.");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string.
  std::string File(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace udmg::testing
