// The database URL an operator gives (--db, UDMG_DATABASE_URL), parsed without opening anything:
// no connection is made and no file is created. OpenStore (db/store.h) opens what this names.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace udmg::db {

enum class Backend { kSqlite, kPostgres };

struct DatabaseUrl {
  Backend backend = Backend::kSqlite;
  // SQLite: the path after "sqlite:" (never empty). PostgreSQL: the whole URL, either scheme, as
  // libpq reads it.
  std::string target;
};

// "sqlite:PATH", "postgresql://..." or "postgres://...". kBadInput, one line that never echoes the
// URL (a mistyped PostgreSQL URL may carry a password), for any other form or "sqlite:" alone, and
// for a PostgreSQL URL whose libpq message would quote part of a password: a '%' not followed by
// two hex digits (libpq quotes the whole token), or an '@' after the user info (an unencoded '@'
// in the password, which libpq would take into the host name).
Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url);

// `message` (a libpq or server message about `url`) with every password `url` may carry replaced
// by "***": the user-info password however its '@'s are read, each piece between them, and every
// password parameter, as written and percent-decoded. Messages echo the host or a token, and a
// mistyped URL puts part of a password there.
std::string RedactPasswords(std::string_view message, std::string_view url);

// A PostgreSQL URL for messages and Describe(), without anything libpq would read as a password:
// "postgresql://user:secret@host/db?password=x&sslmode=require" ->
// "postgresql://user@host/db?sslmode=require". Text without a postgres scheme (keyword=value
// form) becomes "a PostgreSQL URL".
std::string RedactUrl(std::string_view url);

}  // namespace udmg::db
