#include "engine/fernet.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <ctime>
#include <cstdlib>
#include <vector>

#include "engine/encoding.h"
#include "engine/ossl_util.h"

namespace udmg {
namespace {

constexpr uint8_t kVersion = 0x80;
constexpr size_t kHalfKey = 16;
constexpr size_t kTimestampSize = 8;
constexpr size_t kIvSize = 16;
constexpr size_t kHmacSize = 32;
constexpr size_t kBlock = 16;
constexpr size_t kHeaderSize = 1 + kTimestampSize + kIvSize;
constexpr uint64_t kMaxClockSkewSeconds = 60;

Error NotVerified() { return Error{ErrorCode::kCorruptValue, "Fernet token does not verify"}; }

std::array<uint8_t, kHmacSize> Hmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, kHmacSize> mac{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           mac.data(), &size) == nullptr || size != kHmacSize) {
    std::abort();  // HMAC-SHA256 cannot fail short of a broken OpenSSL
  }
  return mac;
}

// AES-128-CBC with PKCS#7 padding (OpenSSL's default), one call. False on any failure, including
// bad padding on decryption.
bool Cbc(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv,
         std::span<const uint8_t> in, uint8_t* out, size_t& out_size) {
  const EVP_CIPHER* cipher = internal::Aes128Cbc();
  internal::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !ctx) return false;
  if (EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), iv.data(), encrypt ? 1 : 0, nullptr) != 1) {
    return false;
  }
  int n1 = 0, n2 = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &n1, in.data(), static_cast<int>(in.size())) != 1) {
    return false;
  }
  if (EVP_CipherFinal_ex(ctx.get(), out + n1, &n2) != 1) return false;
  out_size = static_cast<size_t>(n1) + static_cast<size_t>(n2);
  return true;
}

}  // namespace

Fernet::Fernet(std::span<const uint8_t> key)
    : signing_key_(key.begin(), key.begin() + kHalfKey),
      encryption_key_(key.begin() + kHalfKey, key.end()) {}

Result<Fernet> Fernet::Create(std::span<const uint8_t> key) {
  if (key.size() != 2 * kHalfKey) {
    return Error{ErrorCode::kBadKey, "a Fernet key must be 32 bytes; got " +
                                         std::to_string(key.size())};
  }
  return Fernet(key);
}

std::string Fernet::Encrypt(std::span<const uint8_t> plaintext) const {
  std::array<uint8_t, kIvSize> iv{};
  if (RAND_bytes(iv.data(), iv.size()) != 1) std::abort();  // no token with a weak IV
  return EncryptAt(plaintext, static_cast<uint64_t>(std::time(nullptr)), iv);
}

std::string Fernet::EncryptAt(std::span<const uint8_t> plaintext, uint64_t timestamp,
                              std::span<const uint8_t, 16> iv) const {
  const size_t padded = (plaintext.size() / kBlock + 1) * kBlock;
  std::vector<uint8_t> token(kHeaderSize + padded + kHmacSize);
  token[0] = kVersion;
  for (size_t i = 0; i < kTimestampSize; ++i) {
    token[1 + i] = static_cast<uint8_t>(timestamp >> (8 * (kTimestampSize - 1 - i)));
  }
  std::copy(iv.begin(), iv.end(), token.begin() + 1 + kTimestampSize);
  size_t ciphertext_size = 0;
  if (!Cbc(true, encryption_key_, iv, plaintext, token.data() + kHeaderSize, ciphertext_size) ||
      ciphertext_size != padded) {
    std::abort();  // AES-CBC encryption with a valid key cannot fail short of a broken OpenSSL
  }
  const auto mac = Hmac(signing_key_, std::span(token.data(), kHeaderSize + padded));
  std::copy(mac.begin(), mac.end(), token.begin() + kHeaderSize + padded);
  return Base64UrlEncode(token);
}

Result<SecretBytes> Fernet::Decrypt(std::string_view token) const {
  return DecryptAt(token, 0, std::nullopt);
}

Result<SecretBytes> Fernet::DecryptAt(std::string_view token, uint64_t now,
                                      std::optional<uint64_t> ttl_seconds) const {
  std::optional<std::vector<uint8_t>> raw = Base64UrlDecode(token);
  if (!raw || raw->size() < kHeaderSize + kBlock + kHmacSize || (*raw)[0] != kVersion) {
    return NotVerified();
  }
  const size_t body = raw->size() - kHmacSize;
  if ((body - kHeaderSize) % kBlock != 0) return NotVerified();

  if (ttl_seconds) {
    uint64_t timestamp = 0;
    for (size_t i = 0; i < kTimestampSize; ++i) timestamp = (timestamp << 8) | (*raw)[1 + i];
    if (timestamp + *ttl_seconds < now) return NotVerified();             // expired
    if (timestamp > now + kMaxClockSkewSeconds) return NotVerified();     // from the future
  }

  // Authenticate (constant time) before touching the ciphertext.
  const auto mac = Hmac(signing_key_, std::span(raw->data(), body));
  if (!SafeEquals(mac, std::span(raw->data() + body, kHmacSize))) return NotVerified();

  const std::span<const uint8_t> iv(raw->data() + 1 + kTimestampSize, kIvSize);
  const std::span<const uint8_t> ciphertext(raw->data() + kHeaderSize, body - kHeaderSize);
  SecretBytes plaintext(ciphertext.size() + kBlock);
  size_t plaintext_size = 0;
  if (!Cbc(false, encryption_key_, iv, ciphertext, plaintext.data(), plaintext_size)) {
    return NotVerified();
  }
  plaintext.resize(plaintext_size);
  return plaintext;
}

}  // namespace udmg
