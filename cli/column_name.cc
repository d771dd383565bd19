#include "cli/column_name.h"

#include "base/quoted_input.h"

namespace udmg::cli {
namespace {

bool IsIdentifier(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

Result<ColumnName> ParseColumnName(std::string_view text) {
  size_t dot = text.find('.');
  if (dot != std::string_view::npos && IsIdentifier(text.substr(0, dot)) &&
      IsIdentifier(text.substr(dot + 1))) {
    return ColumnName{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
  }
  return Error{ErrorCode::kBadInput, QuotedInput(text) +
                                         " is not a column name: write TABLE.COLUMN, e.g. "
                                         "credentials.secret (letters, digits, _)"};
}

}  // namespace udmg::cli
