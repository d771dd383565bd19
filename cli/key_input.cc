#include "cli/key_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/secure_file.h"
#include "cli/token_access.h"
#include "engine/root_key.h"
#include "engine/sealed_root_key.h"

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

Result<SecretBytes> RootKeyFromText(std::string_view text, std::string_view what) {
  if (!LooksSealed(text)) return ParseRootKey(text, what);
  // The sealed text first: a malformed one is refused before any module is loaded.
  UDMG_ASSIGN_OR_RETURN(SealedRootKey sealed, ParseSealedRootKey(text, what));
  Result<hsm::TokenAccess> access = TokenAccessFromEnvironment();
  if (!access.ok()) {
    return Error{access.error().code, std::string(what) + " holds a sealed root key, but " +
                                          access.error().message};
  }
  return hsm::UnsealRootKey(*access, sealed, what);
}

SecretBytes KeyFileText(std::span<const uint8_t> key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  SecretBytes text;
  text.reserve(key.size() * 2 + 1);
  for (uint8_t byte : key) {
    text.push_back(static_cast<uint8_t>(kDigits[byte >> 4]));
    text.push_back(static_cast<uint8_t>(kDigits[byte & 0x0f]));
  }
  text.push_back('\n');
  return text;
}

Result<SecretBytes> NewKeyFromArgument(std::string_view text) {
  if (text != "-") return RootKeyFromText(text, "--new-key");
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadBounded(STDIN_FILENO, "the new key on stdin"));
  return RootKeyFromText(AsText(input), "the new key on stdin");
}

Result<SecretBytes> NewKeyFromFile(const std::string& path) {
  UDMG_ASSIGN_OR_RETURN(SecretBytes input, ReadKeyFile(path, "--new-key-file"));
  return RootKeyFromText(AsText(input), "--new-key-file " + path);
}

Result<SecretBytes> ReadKeyFile(const std::string& path, std::string_view flag) {
  UDMG_ASSIGN_OR_RETURN(ScopedFd file, OpenSecretFile(path, flag, ErrorCode::kBadKey));
  // The file exists: its path is a path, not a key, and may be named from here on.
  return ReadBounded(file.get(), std::string(flag) + " " + path);
}

}  // namespace udmg::cli
