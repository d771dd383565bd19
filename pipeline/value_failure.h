// How a stored value failed to decrypt, in the words of udmg_reencrypt_failures.error_class, so
// that sweep, verify and the re-encryption job report failures alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace udmg::pipeline {

inline constexpr std::string_view kMalformed = "malformed";               // udmg: but no envelope
inline constexpr std::string_view kUnknownVersion = "unknown_version";    // version not readable
inline constexpr std::string_view kDecryptionFailed = "decryption_failed";  // did not authenticate

// The class of a ValueCipher::Decrypt error (kBadInput, kNotFound, kCorruptValue; anything else
// is reported as decryption_failed).
std::string_view DecryptErrorClass(ErrorCode code);

// The master version an envelope names, 0 when it is malformed.
uint32_t EnvelopeVersionOrZero(std::string_view value);

}  // namespace udmg::pipeline
