// TABLE.COLUMN arguments (cli/column_name.h ParseColumnName). A name that parses is two SQL
// identifiers that join back to the input with one dot; a refusal is kBadInput on one line.
#include "cli/column_name.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  Result<cli::ColumnName> name = cli::ParseColumnName(text);
  if (!fuzz::Parsed(name, ErrorCode::kBadInput)) return 0;
  FUZZ_CHECK(name->table + "." + name->column == text, "a column name does not join back");
  for (const std::string* part : {&name->table, &name->column}) {
    FUZZ_CHECK(!part->empty() && part->find('.') == std::string::npos, "a malformed identifier");
  }
  return 0;
}
