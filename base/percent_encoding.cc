#include "base/percent_encoding.h"

namespace udmg {
namespace {

constexpr std::string_view kUpperHexDigits = "0123456789ABCDEF";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

int UpperHexValue(char c) {
  size_t at = kUpperHexDigits.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kUpperHexDigits[c >> 4];
      out += kUpperHexDigits[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> PercentDecodeCanonical(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
      continue;
    }
    if (c != '%' || i + 2 >= text.size()) return std::nullopt;
    const int high = UpperHexValue(text[i + 1]);
    const int low = UpperHexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    const unsigned char decoded = static_cast<unsigned char>(high * 16 + low);
    if (IsUnreserved(decoded)) return std::nullopt;
    out += static_cast<char>(decoded);
    i += 2;
  }
  return out;
}

}  // namespace udmg
