// Times as text, the three ways the tool writes them. Times before 1970 or past year 9999 are
// written as their number of seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace udmg {

// "2026-11-27 08:39:03 UTC": what a person reads (job, node and backup times in plain output).
std::string UtcText(int64_t unix_seconds);

// "2026-11-27T08:39:03Z" (RFC 3339): times in JSON documents.
std::string Rfc3339(int64_t unix_seconds);

// "2026-11-27T08:39:03.042Z": log lines (--log-format json).
std::string Rfc3339Millis(std::chrono::system_clock::time_point time);

// Unix seconds of "2026-11-27" (midnight UTC) or "2026-11-27T08:39:03Z" (RFC 3339 in UTC, as
// Rfc3339 writes it); nullopt for anything else, or a date that does not exist.
std::optional<int64_t> ParseUtcTime(std::string_view text);

// "0.60 s": a length of time for a person, with enough digits but not a float's worth.
std::string SecondsText(double seconds);
inline std::string SecondsText(std::chrono::steady_clock::duration elapsed) {
  return SecondsText(std::chrono::duration<double>(elapsed).count());
}

}  // namespace udmg
