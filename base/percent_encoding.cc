#include "base/percent_encoding.h"

#include "base/hex.h"

namespace udmg {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// Canonical percent-encoding writes upper-case digits only.
int UpperHexValue(char c) { return c >= 'a' && c <= 'f' ? -1 : hex::DigitValue(c); }

}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      hex::AppendByte(out, c, hex::Case::kUpper);
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
