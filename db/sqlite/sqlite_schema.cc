#include "db/sqlite/sqlite_schema.h"

#include <span>
#include <string>

#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Never edit a migration that has shipped: add a new one.
constexpr Migration kMigrations[] = {
    {1, "key tables, registered columns, metadata, nonce budget, jobs", R"sql(
CREATE TABLE udmg_root_keys (
  version     INTEGER PRIMARY KEY CHECK (version > 0),
  fingerprint TEXT    NOT NULL UNIQUE,
  wrapped_key TEXT,
  wrapped_by  INTEGER REFERENCES udmg_root_keys (version) DEFERRABLE INITIALLY DEFERRED,
  created_at  INTEGER NOT NULL
);
CREATE TABLE udmg_master_keys (
  version      INTEGER PRIMARY KEY CHECK (version > 0),
  k3           TEXT    NOT NULL,
  root_version INTEGER NOT NULL
               REFERENCES udmg_root_keys (version) DEFERRABLE INITIALLY DEFERRED,
  state        TEXT    NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
  created_at   INTEGER NOT NULL
);
-- At most one active version, enforced by the database; UpdateKeyring checks "at least one".
CREATE UNIQUE INDEX udmg_master_keys_one_active ON udmg_master_keys (state)
  WHERE state = 'active';
CREATE TABLE udmg_encrypted_columns (
  table_name  TEXT NOT NULL,
  column_name TEXT NOT NULL,
  key_column  TEXT NOT NULL,
  PRIMARY KEY (table_name, column_name)
);
CREATE TABLE udmg_meta (
  singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
  keyring_id       TEXT    NOT NULL,
  keyring_revision INTEGER NOT NULL CHECK (keyring_revision > 0)
);
CREATE TABLE udmg_key_usage (
  version     INTEGER PRIMARY KEY,
  encryptions INTEGER NOT NULL CHECK (encryptions >= 0)
);
CREATE TABLE udmg_jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  kind           TEXT    NOT NULL,
  state          TEXT    NOT NULL CHECK (state IN ('running', 'stopped', 'failed', 'done')),
  target_version INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
CREATE TABLE udmg_job_columns (
  job_id          INTEGER NOT NULL REFERENCES udmg_jobs (id) ON DELETE CASCADE,
  position        INTEGER NOT NULL,
  table_name      TEXT    NOT NULL,
  column_name     TEXT    NOT NULL,
  key_column      TEXT    NOT NULL,
  checkpoint_type TEXT    CHECK (checkpoint_type IN ('integer', 'text')),
  checkpoint_key  TEXT,
  migrated        INTEGER NOT NULL DEFAULT 0,
  conflicts       INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  scanned         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, table_name, column_name),
  CHECK ((checkpoint_type IS NULL) = (checkpoint_key IS NULL))
);
CREATE TABLE udmg_reencrypt_failures (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id      INTEGER NOT NULL,
  table_name  TEXT    NOT NULL,
  column_name TEXT    NOT NULL,
  key_column  TEXT    NOT NULL,
  key_type    TEXT    NOT NULL CHECK (key_type IN ('integer', 'text')),
  row_key     TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  error_class TEXT    NOT NULL,
  recorded_at INTEGER NOT NULL,
  UNIQUE (job_id, table_name, column_name, key_type, row_key)
);
)sql"},
    {2, "key ranges of shared jobs (several processes, one job)", R"sql(
CREATE TABLE udmg_job_ranges (
  job_id           INTEGER NOT NULL REFERENCES udmg_jobs (id) ON DELETE CASCADE,
  table_name       TEXT    NOT NULL,
  column_name      TEXT    NOT NULL,
  position         INTEGER NOT NULL,
  lower_type       TEXT    CHECK (lower_type IN ('integer', 'text')),
  lower_key        TEXT,
  upper_type       TEXT    CHECK (upper_type IN ('integer', 'text')),
  upper_key        TEXT,
  checkpoint_type  TEXT    CHECK (checkpoint_type IN ('integer', 'text')),
  checkpoint_key   TEXT,
  done             INTEGER NOT NULL DEFAULT 0,
  owner            TEXT    NOT NULL DEFAULT '',
  lease_expires_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, table_name, column_name, position),
  CHECK ((lower_type IS NULL) = (lower_key IS NULL)),
  CHECK ((upper_type IS NULL) = (upper_key IS NULL)),
  CHECK ((checkpoint_type IS NULL) = (checkpoint_key IS NULL))
);
)sql"},
    {3, "backups taken, nodes seen, keyring rows set aside by a restore", R"sql(
CREATE TABLE udmg_backups (
  id               INTEGER   PRIMARY KEY AUTOINCREMENT,
  taken_at         INTEGER   NOT NULL,
  root_version     INTEGER   NOT NULL,
  root_fingerprint TEXT      NOT NULL,
  keyring_revision INTEGER   NOT NULL
);
CREATE TABLE udmg_nodes (
  node_id          TEXT      PRIMARY KEY,
  host             TEXT      NOT NULL,
  pid              INTEGER   NOT NULL,
  program          TEXT      NOT NULL,
  root_version     INTEGER   ,
  root_fingerprint TEXT      NOT NULL,
  first_seen       INTEGER   NOT NULL,
  last_seen        INTEGER   NOT NULL
);
CREATE TABLE udmg_replaced_keys (
  id               INTEGER   PRIMARY KEY AUTOINCREMENT,
  replaced_at      INTEGER   NOT NULL,
  kind             TEXT      NOT NULL CHECK (kind IN ('root', 'master')),
  version          INTEGER   NOT NULL,
  row_json         TEXT      NOT NULL,
  reason           TEXT      NOT NULL
);
)sql"},
    // NULL: unbound; otherwise the first master version under which an unbound value is refused.
    {4, "row binding per registered column", R"sql(
ALTER TABLE udmg_encrypted_columns ADD COLUMN bound_since INTEGER CHECK (bound_since > 0);
)sql"},
    // PostgreSQL keeps the schema a registered table resolved to; SQLite has one schema: NULL.
    {5, "schema of each registered table", R"sql(
ALTER TABLE udmg_encrypted_columns ADD COLUMN schema_name TEXT;
)sql"},
    // PostgreSQL stores a running job's lock wait there; SQLite statements wait at most their
    // busy timeout, so they stay NULL (the versions match the PostgreSQL backend's).
    {6, "lock waits of running jobs", R"sql(
ALTER TABLE udmg_jobs ADD COLUMN waiting_for TEXT;
ALTER TABLE udmg_jobs ADD COLUMN waiting_since INTEGER;
)sql"},
    // The audit trail: entries are appended, never updated (docs/security.md, "Audit trail").
    {7, "audit trail", R"sql(
CREATE TABLE udmg_audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  node TEXT NOT NULL,
  os_user TEXT NOT NULL,
  pid INTEGER NOT NULL,
  command TEXT NOT NULL,
  event TEXT NOT NULL,
  outcome TEXT NOT NULL,
  root_before INTEGER NOT NULL,
  root_after INTEGER NOT NULL,
  master_before INTEGER NOT NULL,
  master_after INTEGER NOT NULL,
  k0_fingerprint TEXT NOT NULL,
  key_version INTEGER NOT NULL,
  mac TEXT NOT NULL
);
)sql"},
    // The cryptoperiod policy: one row per limit that is set (docs/storage.md).
    {8, "key policy", R"sql(
CREATE TABLE udmg_policy (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
)sql"},
    // What an audit entry was about beyond the key versions (a column, the versions retired); ""
    // when nothing (docs/formats.md, "Audit chain").
    {9, "audit detail", R"sql(
ALTER TABLE udmg_audit ADD COLUMN detail TEXT NOT NULL DEFAULT '';
)sql"},
};

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS udmg_schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";

// 0 when udmg_schema_migrations does not exist yet. Reads only.
Result<int> SchemaVersion(Connection& connection) {
  {
    UDMG_ASSIGN_OR_RETURN(Statement exists,
                          connection.Prepare("SELECT count(*) FROM sqlite_schema WHERE type = "
                                             "'table' AND name = 'udmg_schema_migrations'",
                                             "reading the schema version"));
    UDMG_ASSIGN_OR_RETURN(bool has_row, exists.Step());
    if (!has_row || exists.Int(0) == 0) return 0;
  }
  UDMG_ASSIGN_OR_RETURN(
      Statement version,
      connection.Prepare("SELECT coalesce(max(version), 0) FROM udmg_schema_migrations",
                         "reading the schema version"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, version.Step());
  return has_row ? static_cast<int>(version.Int(0)) : 0;
}

Status Apply(Connection& connection, const Migration& migration) {
  std::string what = "applying schema migration " + std::to_string(migration.version) + " (" +
                     migration.description + ")";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(connection, Transaction::Kind::kWrite, what));
  UDMG_RETURN_IF_ERROR(connection.ExecuteScript(kCreateMigrationsTable, what));
  // Another process may have applied it while this one waited for the lock.
  UDMG_ASSIGN_OR_RETURN(int current, SchemaVersion(connection));
  if (current >= migration.version) return Status::Ok();  // rolls back the empty transaction
  UDMG_RETURN_IF_ERROR(connection.ExecuteScript(migration.sql, what));
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement record,
        connection.Prepare("INSERT INTO udmg_schema_migrations (version, applied_at) "
                           "VALUES (?1, ?2)",
                           what));
    record.BindInt(1, migration.version);
    record.BindInt(2, internal::UnixNow());
    UDMG_RETURN_IF_ERROR(record.Run());
  }
  return transaction.Commit();
}

}  // namespace

int LatestSchemaVersion() { return std::span(kMigrations).back().version; }

Status MigrateSchema(Connection& connection) {
  UDMG_ASSIGN_OR_RETURN(int current, SchemaVersion(connection));
  if (current > LatestSchemaVersion()) {
    return Status(ErrorCode::kDatabase,
                  connection.describe() + ": the schema is at version " + std::to_string(current) +
                      ", newer than this udmg-server knows (" +
                      std::to_string(LatestSchemaVersion()) + "); upgrade udmg-server");
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version > current) UDMG_RETURN_IF_ERROR(Apply(connection, migration));
  }
  return Status::Ok();
}

}  // namespace udmg::db::sqlite
