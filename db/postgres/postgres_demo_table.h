// The demo table on PostgreSQL (db/demo_table.h).
#pragma once

#include <memory>
#include <string_view>

#include "db/demo_table.h"

namespace udmg::db::postgres {

// `url` as OpenPostgresStore takes it; udmg-server's schema must be there.
Result<std::unique_ptr<DemoTable>> OpenPostgresDemoTable(std::string_view url);

}  // namespace udmg::db::postgres
