#include "cli/key_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/secure_file.h"
#include "engine/root_key.h"

namespace udmg::cli {
namespace {

// The whole input in a wiped buffer; kBadKey when it is longer than a key file can be.
Result<SecretBytes> ReadBounded(int fd, std::string_view what) {
  std::optional<SecretBytes> input = ReadSecretUpTo(fd, kMaxKeyInputBytes + 1);
  if (!input) {
    return Error{ErrorCode::kBadKey, std::string(what) + " could not be read: " +
                                         std::strerror(errno)};
  }
  if (input->size() > kMaxKeyInputBytes) {
    return Error{ErrorCode::kBadKey, std::string(what) + " is larger than " +
                                         std::to_string(kMaxKeyInputBytes) +
                                         " bytes: it must hold only the key, 64 hex characters"};
  }
  return std::move(*input);
}

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

Result<SecretBytes> NewKeyFromArgument(std::string_view text) {
  if (text != "-") return ParseRootKey(text, "--new-key");
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadBounded(STDIN_FILENO, "the new key on stdin"));
  return ParseRootKey(AsText(input), "the new key on stdin");
}

Result<SecretBytes> NewKeyFromFile(const std::string& path) {
  const std::string what = "--new-key-file " + path;
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadKeyFile(path, what));
  return ParseRootKey(AsText(input), what);
}

Result<SecretBytes> ReadKeyFile(const std::string& path, const std::string& what) {
  ScopedFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    return Error{ErrorCode::kBadKey, what + " cannot be opened (" + std::strerror(errno) +
                                         "): give the path of a file holding the key"};
  }
  struct stat info {};
  if (fstat(file.get(), &info) != 0) {
    return Error{ErrorCode::kBadKey, what + " cannot be examined: " + std::strerror(errno)};
  }
  if (S_ISREG(info.st_mode) && (info.st_mode & 077) != 0) {
    return Error{ErrorCode::kBadKey, what + " is accessible by group or others (mode " +
                                         OctalMode(info.st_mode) + "): run `chmod 600 " + path +
                                         "` and try again"};
  }
  if (S_ISDIR(info.st_mode)) {
    return Error{ErrorCode::kBadKey, what + " is a directory: give the path of the key file"};
  }
  return ReadBounded(file.get(), what);
}

}  // namespace udmg::cli
