// The one table from the settings the library names in its errors and warnings (Error::setting,
// e.g. "run_time") to the CLI's flags: no flag name lives below cli/ (docs/architecture.md).
#pragma once

#include <string>
#include <string_view>

namespace udmg::cli {

// `message` (an error or warning about `setting`) as the CLI says it: the library's words for
// `setting` ("the run time") replaced by its flag ("--run-time"), or the flag added in parentheses
// when the words are not in it. An empty or unknown `setting` leaves `message` as it is.
std::string NameFlag(std::string_view message, std::string_view setting);

// `text` with the library's words for `setting` replaced by its flag, where it has them (a line
// that may or may not mention the setting, e.g. a restore plan's).
std::string ReplaceSettingWords(std::string_view text, std::string_view setting);

}  // namespace udmg::cli
