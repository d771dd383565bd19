// AES-256-GCM bound to one key, on a reused OpenSSL EVP context (OpenSSL 3 look-ups are costly on
// a hot path: the cipher is fetched once per process, the context is set up once per key).
//
// Thread-safety: NOT thread-safe. Use one AesGcm per thread (see engine/value_cipher.h).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg {

inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;

class AesGcm {
 public:
  // Fails (kBadKey) unless `key` is 32 bytes. The key schedule is computed once here.
  static Result<std::unique_ptr<AesGcm>> Create(std::span<const uint8_t> key);
  ~AesGcm();
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // Appends ciphertext ‖ tag (16 bytes) to `out`.
  Status Seal(std::span<const uint8_t, kGcmNonceSize> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, std::vector<uint8_t>& out);
  // As Seal, into `out`, which must have room for plaintext.size() + kGcmTagSize bytes (lets the
  // envelope code seal into a reused buffer).
  Status SealTo(std::span<const uint8_t, kGcmNonceSize> nonce, std::span<const uint8_t> aad,
                std::span<const uint8_t> plaintext, uint8_t* out);
  // `sealed` is ciphertext ‖ tag. Fails with kCorruptValue "decryption failed" whatever failed.
  Result<SecretBytes> Open(std::span<const uint8_t, kGcmNonceSize> nonce,
                           std::span<const uint8_t> aad, std::span<const uint8_t> sealed);
  // As Open, into `plaintext` (resized to sealed.size() - kGcmTagSize, its capacity reused: the
  // value path decrypts without an allocation per value). On failure the output is wiped and
  // `plaintext` emptied, so no unauthenticated byte is left in it.
  Status OpenInto(std::span<const uint8_t, kGcmNonceSize> nonce, std::span<const uint8_t> aad,
                  std::span<const uint8_t> sealed, SecretBytes& plaintext);

 private:
  struct Contexts;
  explicit AesGcm(std::unique_ptr<Contexts> contexts);
  std::unique_ptr<Contexts> contexts_;
};

}  // namespace udmg
