#include "engine/root_key.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdlib>

#include "engine/encoding.h"

namespace udmg {
namespace {

constexpr std::string_view kFingerprintMessage = "udmg-k0-fingerprint";
constexpr size_t kFingerprintBytes = 16;

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

Result<SecretBytes> ParseRootKey(std::string_view text, std::string_view what) {
  const std::string_view key = TrimWhitespace(text);
  const std::string expected =
      std::string(what) + " must be " + std::to_string(kKeySize * 2) + " hex characters (" +
      std::to_string(kKeySize) + " bytes); found ";
  if (key.size() != kKeySize * 2) {
    return Error{ErrorCode::kBadKey,
                 expected + std::to_string(key.size()) + " characters"};
  }
  for (size_t i = 0; i < key.size(); ++i) {
    if (!IsHexDigit(key[i])) {
      // 1-based position within the trimmed key; the character itself is never shown.
      return Error{ErrorCode::kBadKey,
                   expected + "a non-hex character at position " + std::to_string(i + 1)};
    }
  }
  std::optional<SecretBytes> bytes = HexDecode(key);
  if (!bytes) return Error{ErrorCode::kInternal, "hex decoding of a checked key failed"};
  return std::move(*bytes);
}

std::string RootKeyFingerprint(std::span<const uint8_t> k0) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  // A static non-null key pointer: HMAC() refuses a null key even when its length is zero.
  static const uint8_t kNoKey = 0;
  const uint8_t* key = k0.empty() ? &kNoKey : k0.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(k0.size()),
           reinterpret_cast<const uint8_t*>(kFingerprintMessage.data()),
           kFingerprintMessage.size(), mac.data(), &mac_size) == nullptr ||
      mac_size < kFingerprintBytes) {
    std::abort();  // HMAC-SHA256 of a few bytes cannot fail short of a broken OpenSSL
  }
  std::string fingerprint = HexEncode(std::span(mac.data(), kFingerprintBytes));
  Wipe(mac.data(), mac.size());
  return fingerprint;
}

}  // namespace udmg
