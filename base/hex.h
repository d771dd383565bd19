// Hex digits: the one table behind every hex text (engine/encoding's HexEncode and HexDecode,
// percent-encoding, QuotedInput's \xHH).
#pragma once

#include <cstdint>
#include <string>

namespace udmg::hex {

enum class Case { kLower, kUpper };

// Appends `byte` as two digits.
inline void AppendByte(std::string& out, uint8_t byte, Case letters = Case::kLower) {
  const char* digits = letters == Case::kLower ? "0123456789abcdef" : "0123456789ABCDEF";
  out += digits[byte >> 4];
  out += digits[byte & 0x0F];
}

// The value of one hex digit of either case; -1 for any other character.
constexpr int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace udmg::hex
