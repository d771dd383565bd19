// How this node reaches the PKCS#11 token that seals its root key (docs/hsm.md):
//   - UDMG_PKCS11_MODULE=PATH: the token's PKCS#11 module (shared library);
//   - UDMG_PKCS11_PIN_FILE=PATH: a file holding the user PIN, read as strictly as a key file
//     (owner-only mode, at most 4 KiB, surrounding whitespace trimmed).
// Both are needed only where a sealed root key is read or written. Nothing here echoes the PIN.
#pragma once

#include <string_view>

#include "base/status.h"
#include "hsm/pkcs11_token.h"

namespace udmg::cli {

inline constexpr std::string_view kPkcs11ModuleEnv = "UDMG_PKCS11_MODULE";
inline constexpr std::string_view kPkcs11PinFileEnv = "UDMG_PKCS11_PIN_FILE";

// The module path and the PIN: kBadKey when either variable is unset or empty, or when the PIN
// file cannot be read as a secret file (missing, accessible by group or others, too large, empty).
Result<hsm::TokenAccess> TokenAccessFromEnvironment();

}  // namespace udmg::cli
