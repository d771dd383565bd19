#include "engine/value_cipher.h"

#include "engine/encoding.h"
#include "engine/envelope.h"

namespace udmg {

ValueCipher::ValueCipher(std::shared_ptr<const Keyring> keyring) : keyring_(std::move(keyring)) {}

Result<ValueCipher::VersionContext*> ValueCipher::ContextFor(uint32_t version) {
  if (auto it = contexts_.find(version); it != contexts_.end()) return &it->second;
  const SecretBytes* key = keyring_->MasterKey(version);
  if (key == nullptr && IsRetiredVersion(keyring_->records(), version)) {
    return Error{ErrorCode::kNotFound,
                 "value is encrypted under master key version " + std::to_string(version) +
                     ", which is retired: no process decrypts under it any more (it was "
                     "retired at once, or the value was written after it was retired); restore "
                     "the value from its source"};
  }
  if (key == nullptr) {
    return Error{ErrorCode::kNotFound,
                 "value is encrypted under master key version " + std::to_string(version) +
                     ", which this keyring cannot read (unknown, newer or retired): reload the "
                     "keyring, or check the versions with `udmg-server status`"};
  }
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<AesGcm> aead, AesGcm::Create(*key));
  auto [it, inserted] =
      contexts_.emplace(version, VersionContext{std::move(aead), EnvelopePrefix(version),
                                               BoundEnvelopePrefix(version)});
  return &it->second;
}

Result<std::string> ValueCipher::Encrypt(std::span<const uint8_t> plaintext,
                                         const ValueLocation* location) {
  if (active_ == nullptr) {
    const uint32_t version = keyring_->active_version();
    UDMG_ASSIGN_OR_RETURN(active_, ContextFor(version));
    active_encryptions_ = &encryptions_[version];
  }
  // scratch_ = nonce ‖ ciphertext ‖ tag, reused between calls; the result is one exact-size string.
  scratch_.resize(kGcmNonceSize + plaintext.size() + kGcmTagSize);
  nonces_.Next(std::span<uint8_t, kGcmNonceSize>(scratch_.data(), kGcmNonceSize));
  const bool bound = location != nullptr && location->bound_since;
  const std::string& prefix = bound ? active_->bound_prefix : active_->prefix;
  if (bound) BoundAad(prefix, *location, bound_aad_);
  UDMG_RETURN_IF_ERROR(active_->aead->SealTo(
      std::span<const uint8_t, kGcmNonceSize>(scratch_.data(), kGcmNonceSize),
      AsBytes(bound ? std::string_view(bound_aad_) : std::string_view(prefix)), plaintext,
      scratch_.data() + kGcmNonceSize));
  std::string envelope;
  envelope.reserve(prefix.size() + Base64EncodedSize(scratch_.size()));
  envelope += prefix;
  Base64EncodeAppend(scratch_, envelope);
  ++*active_encryptions_;
  return envelope;
}

Result<SecretBytes> ValueCipher::Decrypt(std::string_view envelope,
                                         const ValueLocation* location) {
  SecretBytes plaintext;
  UDMG_RETURN_IF_ERROR(DecryptInto(envelope, plaintext, location));
  return plaintext;
}

Status ValueCipher::DecryptInto(std::string_view envelope, SecretBytes& plaintext,
                                const ValueLocation* location) {
  plaintext.clear();  // a failure before OpenInto leaves it empty, as documented
  UDMG_ASSIGN_OR_RETURN(const EnvelopeParts parts, ParseEnvelope(envelope));
  if (parts.bound && location == nullptr) {
    return Error{ErrorCode::kInternal, "a row-bound envelope (udmg:b" +
                                           std::to_string(parts.version) +
                                           ":) was read without its row (a bug)"};
  }
  if (RefusedAsUnbound(parts, location)) {
    // Before any decryption: an unbound envelope here may have been copied from another row.
    return Error{ErrorCode::kCorruptValue,
                 "unbound envelope (udmg:v" + std::to_string(parts.version) +
                     ":) in a row-bound column, which accepts unbound values only under master "
                     "versions before " + std::to_string(*location->bound_since) +
                     ": refused as possibly copied from another row; rewrite the value with "
                     "`udmg-server secret put`"};
  }
  if (!Base64DecodeInto(parts.payload, scratch_)) {
    return Error{ErrorCode::kBadInput,
                 "envelope of version " + std::to_string(parts.version) +
                     " has malformed base64: restore the value from a backup or rewrite it"};
  }
  if (scratch_.size() < kGcmNonceSize + kGcmTagSize) {
    return Error{ErrorCode::kBadInput, "envelope of version " + std::to_string(parts.version) +
                                           " is too short to hold a nonce and a tag: restore the "
                                           "value from a backup or rewrite it"};
  }
  UDMG_ASSIGN_OR_RETURN(VersionContext * context, ContextFor(parts.version));
  if (parts.bound) BoundAad(parts.prefix, *location, bound_aad_);
  return context->aead->OpenInto(
      std::span<const uint8_t, kGcmNonceSize>(scratch_.data(), kGcmNonceSize),
      AsBytes(parts.bound ? std::string_view(bound_aad_) : parts.prefix),
      std::span<const uint8_t>(scratch_).subspan(kGcmNonceSize), plaintext);
}

}  // namespace udmg
