// The udmg_ schema for SQLite as versioned migrations, recorded in udmg_schema_migrations.
// docs/storage.md describes every table; the PostgreSQL backend keeps the same versions.
//
// Thread-safety: none (uses the caller's connection); safe across processes (see Migrate).
#pragma once

#include "base/status.h"
#include "db/sqlite/sqlite_connection.h"

namespace udmg::db::sqlite {

// The schema version this build creates and expects.
int LatestSchemaVersion();

// Applies every migration newer than the database's version, each in its own BEGIN IMMEDIATE
// transaction that re-reads the version under the lock (so two processes starting at once apply
// each migration exactly once). At the latest version it only reads. kDatabase when the database
// is newer than this build.
Status MigrateSchema(Connection& connection);

}  // namespace udmg::db::sqlite
