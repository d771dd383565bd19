// Hex and base64 (RFC 4648 §4 standard with padding, §5 URL-safe with padding). Decoders are
// strict: they refuse whitespace, missing or extra padding and non-zero trailing bits, so that one
// text has one meaning (an envelope or a token that parses round-trips exactly).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/secret.h"

namespace udmg {

std::string HexEncode(std::span<const uint8_t> bytes);  // lowercase
// nullopt unless `text` is an even number of hex digits (either case).
std::optional<SecretBytes> HexDecode(std::string_view text);

std::string Base64Encode(std::span<const uint8_t> bytes);
std::string Base64UrlEncode(std::span<const uint8_t> bytes);
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);
std::optional<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);

// `text` without surrounding whitespace (space, tab, CR, LF, VT, FF): how key texts are read, so
// that a file ending in a newline works.
std::string_view TrimWhitespace(std::string_view text);

// Hot-path forms (value envelopes): no allocation beyond what `out` needs.
constexpr size_t Base64EncodedSize(size_t byte_count) { return (byte_count + 2) / 3 * 4; }
// Appends the standard base64 of `bytes` to `out`.
void Base64EncodeAppend(std::span<const uint8_t> bytes, std::string& out);
// Strict standard base64 into `out` (replacing its contents); false on malformed text.
bool Base64DecodeInto(std::string_view text, std::vector<uint8_t>& out);

}  // namespace udmg
