// The demo table on SQLite (db/demo_table.h).
#pragma once

#include <memory>
#include <string_view>

#include "db/demo_table.h"

namespace udmg::db::sqlite {

// `path` as OpenSqliteStore takes it; the database must exist.
Result<std::unique_ptr<DemoTable>> OpenSqliteDemoTable(std::string_view path);

}  // namespace udmg::db::sqlite
