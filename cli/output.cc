#include "cli/output.h"

#include <algorithm>
#include <iostream>

namespace udmg::cli {
namespace {

void PrintLine(std::string_view kind, std::string_view message) {
  std::string line(message);
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << "udmg-server: " << kind << ": " << line << std::endl;
}

}  // namespace

int PrintError(const Error& error) {
  PrintLine("error", error.message);
  return static_cast<int>(error.code);
}

void PrintWarning(std::string_view line) { PrintLine("warning", line); }
void PrintNote(std::string_view line) { PrintLine("note", line); }

std::string RowName(const db::ColumnRef& column, const db::RowKey& key) {
  return column.Name() + " " + column.key_column + "=" + db::RowKeyText(key);
}

}  // namespace udmg::cli
