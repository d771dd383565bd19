// Operator input shown in an error message. Messages are one line (docs/exit-codes.md), and an
// argument can hold anything, newlines included: the input is quoted, cut after 64 characters,
// and every byte outside printable ASCII is written as \xHH, so it can neither break the line nor
// put raw control characters on a terminal.
#pragma once

#include <string>
#include <string_view>

#include "base/hex.h"

namespace udmg {

inline std::string QuotedInput(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  std::string out = "'";
  for (const char c : text.substr(0, kMaxShown)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      hex::AppendByte(out, byte);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

}  // namespace udmg
