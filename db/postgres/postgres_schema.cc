#include "db/postgres/postgres_schema.h"

#include <span>
#include <string>

#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// pg_advisory_xact_lock key for migrations: "udmgschm" as a big-endian int64.
constexpr int64_t kMigrationLockId = 0x75646d67'7363686d;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Never edit a migration that has shipped: add a new one. Versions match the SQLite backend's.
constexpr Migration kMigrations[] = {
    {1, "key tables, registered columns, metadata, nonce budget, jobs", R"sql(
CREATE TABLE udmg_root_keys (
  version     integer PRIMARY KEY CHECK (version > 0),
  fingerprint text    NOT NULL UNIQUE,
  wrapped_key text,
  wrapped_by  integer REFERENCES udmg_root_keys (version) DEFERRABLE INITIALLY DEFERRED,
  created_at  bigint  NOT NULL
);
CREATE TABLE udmg_master_keys (
  version      integer PRIMARY KEY CHECK (version > 0),
  k3           text    NOT NULL,
  root_version integer NOT NULL
               REFERENCES udmg_root_keys (version) DEFERRABLE INITIALLY DEFERRED,
  state        text    NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
  created_at   bigint  NOT NULL
);
-- At most one active version, enforced by the database; UpdateKeyring checks "at least one".
CREATE UNIQUE INDEX udmg_master_keys_one_active ON udmg_master_keys (state)
  WHERE state = 'active';
CREATE TABLE udmg_encrypted_columns (
  table_name  text NOT NULL,
  column_name text NOT NULL,
  key_column  text NOT NULL,
  PRIMARY KEY (table_name, column_name)
);
CREATE TABLE udmg_meta (
  singleton        integer PRIMARY KEY CHECK (singleton = 1),
  keyring_id       text    NOT NULL,
  keyring_revision bigint  NOT NULL CHECK (keyring_revision > 0)
);
CREATE TABLE udmg_key_usage (
  version     integer PRIMARY KEY,
  encryptions bigint  NOT NULL CHECK (encryptions >= 0)
);
CREATE TABLE udmg_jobs (
  id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind           text    NOT NULL,
  state          text    NOT NULL CHECK (state IN ('running', 'stopped', 'failed', 'done')),
  target_version bigint  NOT NULL,
  created_at     bigint  NOT NULL,
  updated_at     bigint  NOT NULL
);
CREATE TABLE udmg_job_columns (
  job_id          bigint  NOT NULL REFERENCES udmg_jobs (id) ON DELETE CASCADE,
  position        integer NOT NULL,
  table_name      text    NOT NULL,
  column_name     text    NOT NULL,
  key_column      text    NOT NULL,
  checkpoint_type text    CHECK (checkpoint_type IN ('integer', 'text')),
  checkpoint_key  text,
  migrated        bigint  NOT NULL DEFAULT 0,
  conflicts       bigint  NOT NULL DEFAULT 0,
  failed          bigint  NOT NULL DEFAULT 0,
  scanned         boolean NOT NULL DEFAULT false,
  PRIMARY KEY (job_id, table_name, column_name),
  CHECK ((checkpoint_type IS NULL) = (checkpoint_key IS NULL))
);
CREATE TABLE udmg_reencrypt_failures (
  id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id      bigint  NOT NULL,
  table_name  text    NOT NULL,
  column_name text    NOT NULL,
  key_column  text    NOT NULL,
  key_type    text    NOT NULL CHECK (key_type IN ('integer', 'text')),
  row_key     text    NOT NULL,
  version     bigint  NOT NULL,
  error_class text    NOT NULL,
  recorded_at bigint  NOT NULL,
  UNIQUE (job_id, table_name, column_name, key_type, row_key)
);
)sql"},
    {2, "key ranges of shared jobs (several processes, one job)", R"sql(
CREATE TABLE udmg_job_ranges (
  job_id           bigint  NOT NULL REFERENCES udmg_jobs (id) ON DELETE CASCADE,
  table_name       text    NOT NULL,
  column_name      text    NOT NULL,
  position         bigint  NOT NULL,
  lower_type       text    CHECK (lower_type IN ('integer', 'text')),
  lower_key        text,
  upper_type       text    CHECK (upper_type IN ('integer', 'text')),
  upper_key        text,
  checkpoint_type  text    CHECK (checkpoint_type IN ('integer', 'text')),
  checkpoint_key   text,
  done             boolean NOT NULL DEFAULT false,
  owner            text    NOT NULL DEFAULT '',
  lease_expires_ms bigint  NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, table_name, column_name, position),
  CHECK ((lower_type IS NULL) = (lower_key IS NULL)),
  CHECK ((upper_type IS NULL) = (upper_key IS NULL)),
  CHECK ((checkpoint_type IS NULL) = (checkpoint_key IS NULL))
);
)sql"},
    {3, "backups taken, nodes seen, keyring rows set aside by a restore", R"sql(
CREATE TABLE udmg_backups (
  id               bigserial PRIMARY KEY,
  taken_at         bigint    NOT NULL,
  root_version     integer   NOT NULL,
  root_fingerprint text      NOT NULL,
  keyring_revision bigint    NOT NULL
);
CREATE TABLE udmg_nodes (
  node_id          text      PRIMARY KEY,
  host             text      NOT NULL,
  pid              bigint    NOT NULL,
  program          text      NOT NULL,
  root_version     integer   ,
  root_fingerprint text      NOT NULL,
  first_seen       bigint    NOT NULL,
  last_seen        bigint    NOT NULL
);
CREATE TABLE udmg_replaced_keys (
  id               bigserial PRIMARY KEY,
  replaced_at      bigint    NOT NULL,
  kind             text      NOT NULL CHECK (kind IN ('root', 'master')),
  version          integer   NOT NULL,
  row_json         text      NOT NULL,
  reason           text      NOT NULL
);
)sql"},
    // NULL: unbound; otherwise the first master version under which an unbound value is refused.
    {4, "row binding per registered column", R"sql(
ALTER TABLE udmg_encrypted_columns ADD COLUMN bound_since integer CHECK (bound_since > 0);
)sql"},
    // The schema a registered table resolved to when it was registered: later search_paths cannot
    // move it (ResolveTableIn). Columns registered before are resolved once, here.
    {5, "schema of each registered table", R"sql(
ALTER TABLE udmg_encrypted_columns ADD COLUMN schema_name text;
UPDATE udmg_encrypted_columns e SET schema_name = n.nspname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = to_regclass(quote_ident(e.table_name));
)sql"},
    // What a running job's statement waits for: the blocking backends ("123,456") and since when.
    {6, "lock waits of running jobs", R"sql(
ALTER TABLE udmg_jobs ADD COLUMN waiting_for text;
ALTER TABLE udmg_jobs ADD COLUMN waiting_since bigint;
)sql"},
    // The audit trail: entries are appended, never updated (docs/security.md, "Audit trail").
    {7, "audit trail", R"sql(
CREATE TABLE udmg_audit (
  seq bigint PRIMARY KEY,
  at bigint NOT NULL,
  node text NOT NULL,
  os_user text NOT NULL,
  pid bigint NOT NULL,
  command text NOT NULL,
  event text NOT NULL,
  outcome text NOT NULL,
  root_before bigint NOT NULL,
  root_after bigint NOT NULL,
  master_before bigint NOT NULL,
  master_after bigint NOT NULL,
  k0_fingerprint text NOT NULL,
  key_version bigint NOT NULL,
  mac text NOT NULL
);
)sql"},
    // The cryptoperiod policy: one row per limit that is set (docs/storage.md).
    {8, "key policy", R"sql(
CREATE TABLE udmg_policy (
  name text PRIMARY KEY,
  value bigint NOT NULL
);
)sql"},
    // What an audit entry was about beyond the key versions (a column, the versions retired); ""
    // when nothing (docs/formats.md, "Audit chain").
    {9, "audit detail", R"sql(
ALTER TABLE udmg_audit ADD COLUMN detail text NOT NULL DEFAULT '';
)sql"},
};

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS udmg_schema_migrations ("
    " version integer PRIMARY KEY, applied_at bigint NOT NULL)";

// 0 when udmg_schema_migrations does not exist in the tool's schema (first in the search_path,
// PinToolSchema) yet. Reads only.
int SchemaVersion(pqxx::transaction_base& transaction) {
  pqxx::row exists =
      transaction.exec1("SELECT to_regclass(quote_ident(current_schema()) || "
                        "'.udmg_schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>()) return 0;
  return transaction.exec1("SELECT coalesce(max(version), 0) FROM udmg_schema_migrations")[0]
      .as<int>();
}

Status Apply(PgConnection& connection, const Migration& migration) {
  std::string what = "applying schema migration " + std::to_string(migration.version) + " (" +
                     migration.description + ")";
  // Idempotent: under the lock it re-reads the version and does nothing when already applied.
  return connection.RunStatus(what, Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
    pqxx::work transaction(live);
    transaction.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockId);
    transaction.exec(kCreateMigrationsTable);
    if (SchemaVersion(transaction) >= migration.version) return Status::Ok();
    transaction.exec(migration.sql);
    transaction.exec_params(
        "INSERT INTO udmg_schema_migrations (version, applied_at) VALUES ($1, $2)",
        migration.version, internal::UnixNow());
    transaction.commit();
    return Status::Ok();
  });
}

Result<int> ReadSchemaVersion(PgConnection& connection) {
  return connection.Run<int>("reading the schema version", Retry::kIdempotent,
                             [](pqxx::connection& live) -> Result<int> {
                               pqxx::read_transaction transaction(live);
                               return SchemaVersion(transaction);
                             });
}

}  // namespace

int LatestSchemaVersion() { return std::span(kMigrations).back().version; }

Status RequireSchema(PgConnection& connection) {
  UDMG_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(connection));
  if (current > 0) return Status::Ok();
  return Status(ErrorCode::kNotInitialized,
                connection.describe() +
                    " holds no udmg-server tables in its search_path: run `udmg-server init` "
                    "to set it up, or check the database URL",
                "database_url");
}

Status MigrateSchema(PgConnection& connection) {
  UDMG_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(connection));
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

}  // namespace udmg::db::postgres
