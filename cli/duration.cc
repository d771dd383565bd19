#include "cli/duration.h"

#include <cstdint>
#include <string>

#include "base/quoted_input.h"

namespace udmg::cli {
namespace {

Error BadDuration(std::string_view text) {
  return Error{ErrorCode::kBadInput, "duration " + QuotedInput(text) +
                                         " is not valid: use e.g. 90s, 5m, 1h, 1h30m, 90d or "
                                         "a number of seconds"};
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  constexpr int64_t kMaxSeconds = int64_t{10} * 365 * 24 * 3600;  // far beyond any cron run
  if (text.empty()) return BadDuration(text);
  int64_t total = 0;
  int last_unit_rank = 4;  // units must come in order d > h > m > s, each at most once
  size_t i = 0;
  while (i < text.size()) {
    int64_t number = 0;
    size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      number = number * 10 + (text[i] - '0');
      if (number > kMaxSeconds) return BadDuration(text);
    }
    if (digits == 0) return BadDuration(text);
    if (i == text.size()) {
      // A bare number: plain seconds, only when it is the whole text.
      if (last_unit_rank != 4) return BadDuration(text);
      return std::chrono::seconds(number);
    }
    int rank = 0;
    int64_t scale = 1;
    switch (text[i]) {
      case 'd': rank = 3; scale = 86400; break;
      case 'h': rank = 2; scale = 3600; break;
      case 'm': rank = 1; scale = 60; break;
      case 's': rank = 0; scale = 1; break;
      default: return BadDuration(text);
    }
    if (rank >= last_unit_rank) return BadDuration(text);
    last_unit_rank = rank;
    total += number * scale;
    if (total > kMaxSeconds) return BadDuration(text);
    ++i;
  }
  return std::chrono::seconds(total);
}

}  // namespace udmg::cli
