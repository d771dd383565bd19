// The value envelope (DESIGN §2, normative): "udmg:v<N>:<B64>", N the K1 version in decimal
// without leading zeros, B64 standard base64 with padding of nonce(12) ‖ ciphertext ‖ tag(16),
// AES-256-GCM with AAD = the ASCII prefix "udmg:v<N>:". A value without the "udmg:" prefix is
// legacy plaintext.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace udmg {

inline constexpr std::string_view kEnvelopeMagic = "udmg:";

// "udmg:v7:"
std::string EnvelopePrefix(uint32_t version);

// True when `value` starts with "udmg:" (so it is meant to be an envelope, well-formed or not).
bool LooksEncrypted(std::string_view value);

struct EnvelopeParts {
  uint32_t version = 0;
  std::string_view prefix;   // "udmg:v7:", the AAD
  std::string_view payload;  // the base64 text after the prefix
};

// Splits an envelope; kBadInput for a value that starts with "udmg:" but is malformed (version
// 0, leading zeros, overflow, missing colon). Does not decode the base64.
Result<EnvelopeParts> ParseEnvelope(std::string_view value);

}  // namespace udmg
