// Encrypts and decrypts value envelopes (engine/envelope.h) with a keyring. Caches one AesGcm per
// master version, so the key schedule and EVP context are set up once per thread and version.
//
// Thread-safety: NOT thread-safe: one ValueCipher per thread (the Keyring itself is shared).
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/aead.h"
#include "engine/envelope.h"
#include "engine/keyring.h"
#include "engine/nonce_pool.h"

namespace udmg {

// NIST SP 800-38D: random 96-bit nonces bound one key to 2^32 encryptions. Warn from here on.
inline constexpr uint64_t kNonceWarnEncryptions = uint64_t{1} << 31;
inline constexpr uint64_t kNonceLimitEncryptions = uint64_t{1} << 32;

class ValueCipher {
 public:
  explicit ValueCipher(std::shared_ptr<const Keyring> keyring);

  const Keyring& keyring() const { return *keyring_; }

  // Envelope under the active version with a fresh random nonce (RAND_bytes, drawn in batches:
  // engine/nonce_pool.h): the bound form udmg:b<N>: when `location` names a bound column, else
  // udmg:v<N>:.
  Result<std::string> Encrypt(std::span<const uint8_t> plaintext,
                              const ValueLocation* location = nullptr);
  Result<std::string> Encrypt(std::string_view plaintext,
                              const ValueLocation* location = nullptr) {
    return Encrypt(AsBytes(plaintext), location);
  }

  // Plaintext of an envelope of either form under any readable version. A bound envelope needs
  // its `location` (its AAD); an unbound one is refused where the location's column says so.
  // kBadInput: malformed envelope or base64; kNotFound: a version this keyring cannot read (maybe
  // newer: refresh the keyring); kCorruptValue: authentication failed ("decryption failed"), or
  // an unbound envelope refused by a bound column (RefusedAsUnbound); kInternal: a bound envelope
  // without a location (a caller's bug).
  Result<SecretBytes> Decrypt(std::string_view envelope, const ValueLocation* location = nullptr);
  // As Decrypt, into `plaintext` (its capacity reused: no allocation per value on a batch path).
  // On failure `plaintext` is empty, and any unauthenticated output was wiped. Earlier values'
  // bytes may stay in its spare capacity until the buffer is freed (wiped then, as SecretBytes).
  Status DecryptInto(std::string_view envelope, SecretBytes& plaintext,
                     const ValueLocation* location = nullptr);

  // Encryptions made by this object per master version since it was created (for the nonce
  // budget; callers add it to the store's per-version count).
  const std::map<uint32_t, uint64_t>& encryptions() const { return encryptions_; }

 private:
  // What a version needs per call, set up on first use: the keyed AES-GCM and the prefixes (the
  // AAD of an unbound envelope, the start of a bound one's).
  struct VersionContext {
    std::unique_ptr<AesGcm> aead;
    std::string prefix;
    std::string bound_prefix;
  };
  Result<VersionContext*> ContextFor(uint32_t version);

  std::shared_ptr<const Keyring> keyring_;
  std::map<uint32_t, VersionContext> contexts_;
  std::map<uint32_t, uint64_t> encryptions_;
  VersionContext* active_ = nullptr;      // contexts_ of the active version, once used
  uint64_t* active_encryptions_ = nullptr;  // its entry in encryptions_ (map nodes are stable)
  NoncePool nonces_;
  std::vector<uint8_t> scratch_;  // nonce ‖ ciphertext ‖ tag of the current call (never plaintext)
  std::string bound_aad_;         // AAD of the current bound envelope (names, never secrets)
};

}  // namespace udmg
