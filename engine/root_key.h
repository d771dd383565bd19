// K0, the root key: parsing from the environment or a file, and its fingerprint (docs/formats.md).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg {

inline constexpr size_t kKeySize = 32;
inline constexpr std::string_view kRootKeyEnv = "UDMG_SECURITY_PASSPHRASE_KEY";

// Surrounding whitespace is ignored; anything but exactly 64 hex digits fails with kBadKey and a
// message that gives the length found (after trimming) and never echoes the value.
// `what` names the input in the message, e.g. "UDMG_SECURITY_PASSPHRASE_KEY" or "--new-key".
Result<SecretBytes> ParseRootKey(std::string_view text, std::string_view what);

// Lowercase hex of the first 16 bytes of HMAC-SHA256(key = K0, message = "udmg-k0-fingerprint").
std::string RootKeyFingerprint(std::span<const uint8_t> k0);

}  // namespace udmg
