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

std::string SecondsText(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", seconds);
  return text;
}

}  // namespace udmg
