// The udmg_ schema for PostgreSQL as versioned migrations, recorded in udmg_schema_migrations.
// Same versions, tables, columns and meaning as db/sqlite/sqlite_schema.cc, in PostgreSQL types:
// integers as integer/bigint, timestamps as bigint Unix seconds, booleans as boolean.
// Tables are created in the first schema of the connection's search_path.
//
// Thread-safety: none (uses the caller's connection); safe across processes (see MigrateSchema).
#pragma once

#include "base/status.h"
#include "db/postgres/postgres_connection.h"

namespace udmg::db::postgres {

// The schema version this build creates and expects (the same number as the SQLite backend's).
int LatestSchemaVersion();

// Applies every migration newer than the database's version, each in its own transaction under a
// transaction-level advisory lock, re-reading the version under the lock (so several processes
// starting at once apply each migration exactly once). At the latest version it only reads.
// kDatabase when the database is newer than this build.
Status MigrateSchema(PgConnection& connection);

// kNotInitialized when udmg_schema_migrations is not in the search_path (`init` never ran on
// this database or schema). Reads only.
Status RequireSchema(PgConnection& connection);

}  // namespace udmg::db::postgres
