// For the key harnesses: a text of the same shape as the input (same length, whitespace where it
// has whitespace, a hex digit where it has one, a non-hex character elsewhere) but none of its
// characters. An error message that depends only on the shape cannot echo the key.
#pragma once

#include <string>
#include <string_view>

namespace udmg::fuzz {

inline std::string SameShapeOtherText(std::string_view text) {
  std::string shape(text);
  for (char& c : shape) {
    const bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (space) continue;
    c = hex ? (c == '0' ? '1' : '0') : (c == 'g' ? 'h' : 'g');
  }
  return shape;
}

}  // namespace udmg::fuzz
