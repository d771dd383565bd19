// TABLE.COLUMN arguments as operators type them.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace udmg::cli {

struct ColumnName {
  std::string table;
  std::string column;
};

// kBadInput unless `text` is two SQL identifiers ([A-Za-z_][A-Za-z0-9_]*) joined by one dot.
Result<ColumnName> ParseColumnName(std::string_view text);

}  // namespace udmg::cli
