// The exit codes only the CLI produces, after the library's ErrorCode values (base/status.h):
// a library never runs doctor or writes the command's stdout. docs/exit-codes.md; never renumber.
#pragma once

#include "base/status.h"

namespace udmg::cli {

inline constexpr ErrorCode kUnhealthy = static_cast<ErrorCode>(13);   // doctor found a problem
inline constexpr ErrorCode kOutputLost = static_cast<ErrorCode>(14);  // stdout could not be written
inline constexpr ErrorCode kAuditBroken = static_cast<ErrorCode>(15);  // audit verify found a break

}  // namespace udmg::cli
