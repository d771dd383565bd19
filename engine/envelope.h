// The value envelope (docs/formats.md, normative): "udmg:v<N>:<B64>", N the K1 version in decimal
// without leading zeros, B64 standard base64 with padding of nonce(12) ‖ ciphertext ‖ tag(16),
// AES-256-GCM with AAD = the ASCII prefix "udmg:v<N>:". A value without the "udmg:" prefix is
// legacy plaintext.
//
// The bound form (docs/security.md, "Binding values to their row"): "udmg:b<N>:<B64>", the same
// payload with AAD = "udmg:b<N>:" ‖ table ‖ 0x00 ‖ column ‖ 0x00 ‖ row key text, so the value
// decrypts only in the row it was written for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace udmg {

inline constexpr std::string_view kEnvelopeMagic = "udmg:";

// "udmg:v7:"
std::string EnvelopePrefix(uint32_t version);
// "udmg:b7:"
std::string BoundEnvelopePrefix(uint32_t version);

// The longest envelope of a plaintext of `plaintext_size` bytes, under any version and in either
// form: "udmg:b4294967295:" plus the base64 of nonce ‖ ciphertext ‖ tag.
uint64_t MaxEnvelopeLength(uint64_t plaintext_size);

// True when `value` starts with "udmg:" (so it is meant to be an envelope, well-formed or not).
bool LooksEncrypted(std::string_view value);

struct EnvelopeParts {
  uint32_t version = 0;
  bool bound = false;        // "udmg:b<N>:" rather than "udmg:v<N>:"
  std::string_view prefix;   // "udmg:v7:" or "udmg:b7:", the start of the AAD
  std::string_view payload;  // the base64 text after the prefix
};

// Splits an envelope of either form; kBadInput for a value that starts with "udmg:" but is
// malformed (no 'v' or 'b', version 0, leading zeros, overflow, missing colon). Does not decode
// the base64.
Result<EnvelopeParts> ParseEnvelope(std::string_view value);

// Where a value lives, and its column's binding: what a bound envelope's AAD names and what
// decides whether an unbound envelope is accepted there. The views must outlive the call.
struct ValueLocation {
  std::string_view table;
  std::string_view column;
  std::string_view row_key;  // the row key's text form (db::RowKeyText)
  // nullopt: an unbound column (values written unbound). N: a bound column (values written
  // bound), where an unbound envelope under version N or newer is refused as tampering.
  std::optional<uint32_t> bound_since;
};

// The AAD of a bound envelope with `prefix` ("udmg:b7:") at `location`, into `aad`.
void BoundAad(std::string_view prefix, const ValueLocation& location, std::string& aad);

// True when `location`'s column refuses the unbound envelope `parts` (see ValueLocation).
bool RefusedAsUnbound(const EnvelopeParts& parts, const ValueLocation* location);

}  // namespace udmg
