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

}  // namespace

Result<SecretBytes> NewKeyFromArgument(std::string_view text) {
  if (text != "-") return ParseRootKey(text, "--new-key");
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadBounded(STDIN_FILENO, "the new key on stdin"));
  return ParseRootKey(AsText(input), "the new key on stdin");
}

Result<SecretBytes> NewKeyFromFile(const std::string& path) {
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadKeyFile(path, "--new-key-file"));
  return ParseRootKey(AsText(input), "--new-key-file " + path);
}

Result<SecretBytes> ReadKeyFile(const std::string& path, std::string_view flag) {
  UDMG_ASSIGN_OR_RETURN(ScopedFd file, OpenSecretFile(path, flag, ErrorCode::kBadKey));
  // The file exists: its path is a path, not a key, and may be named from here on.
  return ReadBounded(file.get(), std::string(flag) + " " + path);
}

}  // namespace udmg::cli
