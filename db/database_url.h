// The database URL an operator gives (--db, UDMG_DATABASE_URL), parsed without opening anything:
// no connection is made and no file is created. OpenStore (db/store.h) opens what this names.
#pragma once

#include <string>
#include <string_view>

#include "engine/status.h"

namespace udmg::db {

enum class Backend { kSqlite, kPostgres };

struct DatabaseUrl {
  Backend backend = Backend::kSqlite;
  // SQLite: the path after "sqlite:" (never empty). PostgreSQL: the whole URL, either scheme, as
  // libpq reads it.
  std::string target;
};

// "sqlite:PATH", "postgresql://..." or "postgres://...". kBadInput, one line that never echoes the
// URL (a mistyped PostgreSQL URL may carry a password), for any other form or "sqlite:" alone.
Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url);

// A PostgreSQL URL for messages and Describe(), without anything libpq would read as a password:
// "postgresql://user:secret@host/db?password=x&sslmode=require" ->
// "postgresql://user@host/db?sslmode=require". Text without a postgres scheme (keyword=value
// form) becomes "a PostgreSQL URL".
std::string RedactUrl(std::string_view url);

}  // namespace udmg::db
