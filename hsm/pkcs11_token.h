// The root key K0 sealed and unsealed by an AES key on a PKCS#11 token (docs/hsm.md): the module
// is dlopen()ed, initialised, the token found by label, the user logged in, the key found by
// label; then everything is undone (logout, finalize, dlclose) before the call returns.
//
// Unsealing unwraps (C_UnwrapKey, CKM_AES_KEY_WRAP) into a session object that is extractable
// and not sensitive, reads its CKA_VALUE into wiped memory and destroys the object: the wrapping
// key itself never leaves the token. Sealing creates K0 as such a session object and wraps it.
//
// Every failure is kBadKey with one line that names the module, the token and the key (labels
// and paths, never a PIN or key byte) and what to do. Thread-safety: one call at a time per
// process (C_Initialize / C_Finalize are process-wide).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/sealed_root_key.h"
#include "engine/secret.h"

namespace udmg::hsm {

// Where the token's module is and how to log in to it.
struct TokenAccess {
  std::string module_path;  // a PKCS#11 module (shared library)
  SecretBytes pin;          // the user PIN
  std::string pin_source;   // where the PIN came from, for messages ("UDMG_PKCS11_PIN_FILE /p")
};

// K0 from `sealed`; `what` names where the sealed text came from, for messages.
Result<SecretBytes> UnsealRootKey(const TokenAccess& access, const SealedRootKey& sealed,
                                  std::string_view what);

// `k0` wrapped by the AES key labelled `key_label` on the token labelled `token_label`, checked
// by unwrapping it again.
Result<SealedRootKey> SealRootKey(const TokenAccess& access, std::span<const uint8_t> k0,
                                  const std::string& token_label, const std::string& key_label);

// What doctor reports about a wrapping key.
struct WrappingKeyFacts {
  std::string module_description;  // CK_INFO: manufacturer and library description
  bool extractable = true;         // CKA_EXTRACTABLE: should be false
  bool sensitive = false;          // CKA_SENSITIVE: should be true
};
Result<WrappingKeyFacts> DescribeWrappingKey(const TokenAccess& access,
                                             const std::string& token_label,
                                             const std::string& key_label);

// The name of a PKCS#11 return value, e.g. "CKR_PIN_INCORRECT" (hex for unknown ones).
std::string ReturnValueName(unsigned long rv);

}  // namespace udmg::hsm
