// The backend choice: OpenStore and OpenDemoTable dispatch on the URL scheme, so that callers get
// SQLite and PostgreSQL without knowing which is linked (target udmg_db links both backends).
#include <cstdlib>

#include "db/database_url.h"
#include "db/demo_table.h"
#include "db/postgres/postgres_demo_table.h"
#include "db/postgres/postgres_store.h"
#include "db/sqlite/sqlite_demo_table.h"
#include "db/sqlite/sqlite_store.h"
#include "db/store.h"

namespace udmg::db {
namespace {

constexpr std::string_view kDefaultDatabaseUrl = "sqlite:udmg.db";

}  // namespace

std::string ResolveDatabaseUrl(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return *flag;
  if (const char* env = std::getenv("UDMG_DATABASE_URL"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(kDefaultDatabaseUrl);
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, OpenMode mode) {
  UDMG_ASSIGN_OR_RETURN(const DatabaseUrl parsed, ParseDatabaseUrl(url));
  if (parsed.backend == Backend::kSqlite) {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                          sqlite::OpenSqliteStore(parsed.target, mode));
    return store;
  }
  // libpq takes the whole URL, both schemes.
  return postgres::OpenPostgresStore(parsed.target, postgres::PgStoreOptions{.mode = mode});
}

Result<std::unique_ptr<DemoTable>> OpenDemoTable(std::string_view url) {
  UDMG_ASSIGN_OR_RETURN(const DatabaseUrl parsed, ParseDatabaseUrl(url));
  if (parsed.backend == Backend::kSqlite) return sqlite::OpenSqliteDemoTable(parsed.target);
  return postgres::OpenPostgresDemoTable(parsed.target);
}

}  // namespace udmg::db
