// A root key K0 sealed by a key on a PKCS#11 token (docs/formats.md, "Sealed root key"): one line
// of text, accepted wherever a plain K0 (64 hex characters) is,
//   udmg-sealed-k0:v1:aes-key-wrap:<token label>:<key label>:<base64 of the wrapped K0>
// Labels are percent-encoded (every byte but A-Z a-z 0-9 - . _ ~ as %XX, uppercase hex), so that
// any label fits between the colons and each text has exactly one spelling. The wrapped K0 is
// RFC 3394 AES key wrap of the 32 key bytes: 40 bytes, standard base64 with padding.
//
// Pure format: parsing and printing only; unwrapping is hsm/'s (the token does it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace udmg {

inline constexpr std::string_view kSealedRootKeyPrefix = "udmg-sealed-k0:";
// The one wrapping mechanism of v1: CKM_AES_KEY_WRAP (RFC 3394, no padding).
inline constexpr std::string_view kAesKeyWrap = "aes-key-wrap";
// RFC 3394 adds one 8-byte block to the 32 key bytes.
inline constexpr size_t kWrappedRootKeySize = 40;

struct SealedRootKey {
  std::string mechanism = std::string(kAesKeyWrap);
  std::string token_label;       // CKA_LABEL of the token (CK_TOKEN_INFO.label, unpadded)
  std::string key_label;         // CKA_LABEL of the wrapping key on that token
  std::vector<uint8_t> wrapped;  // not secret: only the token's key opens it
};

// True when `text` (surrounding whitespace ignored) claims to be a sealed root key, well-formed
// or not: it starts with kSealedRootKeyPrefix. Tells a sealed key from a plain one.
bool LooksSealed(std::string_view text);

// Surrounding whitespace is ignored. kBadKey with a message naming `what` and the part that is
// wrong (version, mechanism, a label, the wrapped key) when anything else is off; the labels and
// the wrapped bytes are not secret, but nothing of the text is echoed (a malformed text may be
// something else pasted there).
Result<SealedRootKey> ParseSealedRootKey(std::string_view text, std::string_view what);

// The one spelling of `sealed`, without a newline; ParseSealedRootKey reads it back unchanged.
std::string FormatSealedRootKey(const SealedRootKey& sealed);

}  // namespace udmg
