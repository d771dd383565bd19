// Fernet tokens (spec version 0x80: AES-128-CBC + HMAC-SHA256, base64url), as Python's
// cryptography.fernet. The 32-byte key is split as the spec says: signing key = bytes 0..15,
// encryption key = bytes 16..31. For K0 that is exactly
// Fernet(base64.urlsafe_b64encode(bytes.fromhex(k0_hex))).
//
// Thread-safety: a Fernet object is immutable; const methods may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg {

class Fernet {
 public:
  // Fails (kBadKey) unless `key` is 32 bytes.
  static Result<Fernet> Create(std::span<const uint8_t> key);

  // Token with the current time and a random IV.
  std::string Encrypt(std::span<const uint8_t> plaintext) const;
  // Deterministic form for the spec's vectors.
  std::string EncryptAt(std::span<const uint8_t> plaintext, uint64_t timestamp,
                        std::span<const uint8_t, 16> iv) const;

  // Verifies the HMAC (constant time) before decrypting; no TTL. Every failure reads the same:
  // kCorruptValue "Fernet token does not verify" (no hint which check failed).
  Result<SecretBytes> Decrypt(std::string_view token) const;
  // With the spec's TTL semantics, for the verify/invalid vectors: a token older than `ttl`
  // seconds or more than 60 s in the future relative to `now` is refused.
  Result<SecretBytes> DecryptAt(std::string_view token, uint64_t now,
                                std::optional<uint64_t> ttl_seconds) const;

 private:
  explicit Fernet(std::span<const uint8_t> key);
  SecretBytes signing_key_;
  SecretBytes encryption_key_;
};

}  // namespace udmg
