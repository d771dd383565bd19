// Durations (--max-duration, policy ages): "90s", "5m", "1h", "1h30m", "2h5m10s", "90d" or plain
// seconds ("300"), at most ten years.
#pragma once

#include <chrono>
#include <string_view>

#include "base/status.h"

namespace udmg::cli {

// kBadInput, naming the text and the accepted forms, for anything else (empty, unknown unit,
// repeated or out-of-order unit, overflow).
Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace udmg::cli
