#include "base/time_text.h"

#include <cstdio>
#include <ctime>

namespace udmg {
namespace {

std::string Format(int64_t unix_seconds, const char* format) {
  const std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  char text[40];
  if (gmtime_r(&time, &parts) == nullptr || parts.tm_year + 1900 > 9999 ||
      std::strftime(text, sizeof(text), format, &parts) == 0) {
    return std::to_string(unix_seconds);
  }
  return text;
}

}  // namespace

std::string UtcText(int64_t unix_seconds) { return Format(unix_seconds, "%Y-%m-%d %H:%M:%S UTC"); }

std::string Rfc3339(int64_t unix_seconds) { return Format(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }

std::string Rfc3339Millis(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto since_epoch = time.time_since_epoch();
  const int64_t seconds = floor<std::chrono::seconds>(since_epoch).count();
  const int64_t millis = floor<milliseconds>(since_epoch).count() - seconds * 1000;
  std::string text = Format(seconds, "%Y-%m-%dT%H:%M:%S");
  char fraction[8];
  std::snprintf(fraction, sizeof(fraction), ".%03dZ", static_cast<int>(millis));
  return text + fraction;
}

std::optional<int64_t> ParseUtcTime(std::string_view text) {
  // Fixed positions: YYYY-MM-DD, then optionally THH:MM:SSZ.
  auto number = [&](size_t at, size_t digits) -> std::optional<int> {
    int value = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (i >= text.size() || text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  auto separator = [&](size_t at, char expected) {
    return at < text.size() && text[at] == expected;
  };
  if (text.size() != 10 && text.size() != 20) return std::nullopt;
  const std::optional<int> year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (!year || !month || !day || !separator(4, '-') || !separator(7, '-')) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  int64_t seconds = std::chrono::sys_days(date).time_since_epoch() / std::chrono::seconds(1);
  if (text.size() == 10) return seconds;
  const std::optional<int> hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!separator(10, 'T') || !hour || !minute || !second || !separator(13, ':') ||
      !separator(16, ':') || !separator(19, 'Z') || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  return seconds + *hour * 3600 + *minute * 60 + *second;
}

std::string SecondsText(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", seconds);
  return text;
}

}  // namespace udmg
