// PgStore: the registry of encrypted columns (udmg_encrypted_columns). A table is resolved through
// the session's own search_path when it is registered, and its schema kept (ResolveTableIn);
// names are exact (quoted, case-sensitive). Row-level security that applies to the role is found
// here too (RowsHiddenIn).
#include "db/postgres/postgres_audit.h"
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// The oid and kind ('r' table, 'p' partitioned, 'v' view...) of a resolved table; nullopt when
// there is none.
struct TableInfo {
  int64_t oid = 0;
  std::string relkind;
};
std::optional<TableInfo> FindTable(pqxx::transaction_base& transaction,
                                   const std::optional<ResolvedTable>& resolved) {
  if (!resolved) return std::nullopt;
  pqxx::result found = transaction.exec_params(
      "SELECT c.oid::bigint, c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
      resolved->sql);
  if (found.empty()) return std::nullopt;
  return TableInfo{found[0][0].as<int64_t>(), found[0][1].as<std::string>()};
}

// A column of table `oid` as pg_attribute describes it; nullopt when there is none.
struct AttributeInfo {
  bool not_null = false;
  std::string type;  // format_type without the modifier: "text", "character varying", "bytea"
  std::optional<uint64_t> max_chars;  // varchar(n): n
};
std::optional<AttributeInfo> Attribute(pqxx::transaction_base& transaction, int64_t oid,
                                       const std::string& name) {
  pqxx::result found = transaction.exec_params(
      "SELECT attnotnull, format_type(atttypid, NULL), CASE WHEN atttypid = "
      "'varchar'::regtype AND atttypmod > 4 THEN atttypmod - 4 END FROM pg_attribute "
      "WHERE attrelid = $1::bigint::oid AND attname = $2 AND attnum > 0 AND NOT attisdropped",
      oid, name);
  if (found.empty()) return std::nullopt;
  AttributeInfo info{found[0][0].as<bool>(), found[0][1].as<std::string>(), std::nullopt};
  if (!found[0][2].is_null()) info.max_chars = found[0][2].as<uint64_t>();
  return info;
}

// An envelope is ASCII text of any length: only text and varchar hold it as it is (bytea returns
// it hex-encoded, char(n) pads it with blanks, other types cannot take it).
Status CheckValueColumnType(const ColumnRef& column, const AttributeInfo& value) {
  if (value.type == "text" || value.type == "character varying") return Status::Ok();
  return Status(ErrorCode::kBadInput,
                "column '" + column.Name() + "' is of type " + value.type +
                    ", which cannot hold an encrypted value as text; use a text or varchar column");
}

// kBadInput for a relation that is not a table: its rows are not stored where udmg-server writes.
Status RefuseNonTable(const ColumnRef& column, std::string_view relkind) {
  std::string_view what = relkind == "v"   ? "a view"
                          : relkind == "m" ? "a materialized view"
                          : relkind == "f" ? "a foreign table"
                                           : "not a table";
  return Status(ErrorCode::kBadInput, "'" + column.table + "' is " + std::string(what) +
                                          ": udmg-server encrypts columns of tables only; "
                                          "register the table it reads from");
}

// kBadInput for a GENERATED column: its values are computed by the database, never written.
Status RefuseGeneratedColumn(pqxx::transaction_base& transaction, int64_t oid,
                             const ColumnRef& column) {
  pqxx::result generated = transaction.exec_params(
      "SELECT 1 FROM pg_attribute WHERE attrelid = $1::bigint::oid AND attname = $2 "
      "AND attgenerated <> ''",
      oid, column.column);
  if (generated.empty()) return Status::Ok();
  return Status(ErrorCode::kBadInput, "column '" + column.Name() +
                                          "' is GENERATED: the database computes its values, so "
                                          "they cannot be stored encrypted; register the column "
                                          "it is computed from");
}

// kNotFound naming the missing table or column; kBadInput for a relation that is not a table, a
// GENERATED value column, a key column that is neither the primary key nor under a unique,
// non-partial, one-column index or that can hold NULL, and a value column that is not text-like.
// `resolved` is where the table resolved (ResolveTableIn).
Status CheckColumnExists(pqxx::transaction_base& transaction, const ColumnRef& column,
                         const std::optional<ResolvedTable>& resolved) {
  std::optional<TableInfo> table = FindTable(transaction, resolved);
  if (!table) {
    return Status(ErrorCode::kNotFound, "table '" + column.table +
                                            "' does not exist; create it or check the name "
                                            "(names are case-sensitive)");
  }
  if (table->relkind != "r" && table->relkind != "p") return RefuseNonTable(column, table->relkind);
  const int64_t oid = table->oid;
  std::optional<AttributeInfo> value = Attribute(transaction, oid, column.column);
  if (!value) {
    return Status(ErrorCode::kNotFound,
                  "column '" + column.Name() + "' does not exist; check the name (case-sensitive)");
  }
  std::optional<AttributeInfo> key = Attribute(transaction, oid, column.key_column);
  if (!key) {
    return Status(ErrorCode::kNotFound, "key column '" + column.table + "." + column.key_column +
                                            "' does not exist; name the table's primary key");
  }
  UDMG_RETURN_IF_ERROR(RefuseGeneratedColumn(transaction, oid, column));
  // Keyset pagination and compare-and-swap need one row per key (a primary key is unique too).
  pqxx::result unique = transaction.exec_params(
      "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
      "AND a.attnum = i.indkey[0] WHERE i.indrelid = $1::bigint::oid AND i.indisunique "
      "AND i.indpred IS NULL AND i.indnkeyatts = 1 AND a.attname = $2",
      oid, column.key_column);
  if (unique.empty()) {
    return Status(ErrorCode::kBadInput, "key column '" + column.table + "." + column.key_column +
                                            "' is not unique; use the primary key or a column "
                                            "with a unique index");
  }
  // A primary key is NOT NULL by definition.
  if (!key->not_null) return internal::NullableKeyColumn(column, "can hold NULL");
  return CheckValueColumnType(column, *value);
}

// A registered column from a row of (table_name, column_name, key_column, bound_since).
ColumnRef RegisteredColumn(const pqxx::row& row) {
  ColumnRef column{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()};
  if (!row[3].is_null()) column.bound_since = row[3].as<uint32_t>();
  return column;
}

// The registered column, as stored in `transaction`; nullopt when not registered.
std::optional<ColumnRef> FindColumnIn(pqxx::transaction_base& transaction, std::string_view table,
                                      std::string_view column) {
  pqxx::result found = transaction.exec_params(
      "SELECT table_name, column_name, key_column, bound_since FROM udmg_encrypted_columns "
      "WHERE table_name = $1 AND column_name = $2",
      std::string(table), std::string(column));
  if (found.empty()) return std::nullopt;
  return RegisteredColumn(found[0]);
}

}  // namespace

Result<std::optional<ResolvedTable>> ResolveTableIn(pqxx::transaction_base& transaction,
                                                    const std::string& user_schemas,
                                                    const std::string& table) {
  pqxx::row found = transaction.exec_params1(
      "WITH registered AS (SELECT min(schema_name) AS s FROM udmg_encrypted_columns "
      " WHERE table_name = $2), "
      "on_path AS (SELECT p.s FROM unnest($1::text[]) WITH ORDINALITY AS p(s, i) "
      " JOIN pg_namespace n ON n.nspname = p.s "
      " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2 ORDER BY p.i LIMIT 1) "
      "SELECT r.s, p.s, quote_ident(coalesce(r.s, p.s)) || '.' || quote_ident($2), "
      "quote_ident(r.s) || '.' || quote_ident($2), quote_ident(p.s) || '.' || quote_ident($2) "
      "FROM registered r LEFT JOIN on_path p ON true",
      user_schemas, table);
  if (!found[0].is_null() && !found[1].is_null() &&
      found[0].as<std::string>() != found[1].as<std::string>()) {
    return Error{ErrorCode::kDatabase,
                 "table '" + table + "' is registered as " + found[3].as<std::string>() +
                     " but this connection's search_path (" + user_schemas + ") finds " +
                     found[4].as<std::string>() + " first; connect with the search_path it was "
                     "registered under (options=-csearch_path%3D... in the URL, or ALTER ROLE ... "
                     "SET search_path) so that both mean the same table"};
  }
  if (found[0].is_null() && found[1].is_null()) return std::optional<ResolvedTable>();
  return std::optional<ResolvedTable>(ResolvedTable{
      found[found[0].is_null() ? 1 : 0].as<std::string>(), found[2].as<std::string>()});
}

std::optional<std::string> RowsHiddenIn(pqxx::transaction_base& transaction,
                                        const std::string& table_sql) {
  // row_security_active: the policies apply to this role here (not superuser, no BYPASSRLS, not
  // the owner unless FORCE ROW LEVEL SECURITY). A missing table is reported by other checks.
  pqxx::result found = transaction.exec_params(
      "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relforcerowsecurity, "
      "quote_ident(pg_get_userbyid(c.relowner)), quote_ident(current_user) "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = to_regclass($1) AND row_security_active(c.oid)",
      table_sql);
  if (found.empty()) return std::nullopt;
  std::string table = found[0][0].as<std::string>();
  std::string owner = found[0][2].as<std::string>();
  std::string role = found[0][3].as<std::string>();
  std::string bypass = "run udmg-server as a role with BYPASSRLS (ALTER ROLE " + role +
                       " BYPASSRLS)";
  if (found[0][1].as<bool>() && owner == role) {
    return "table " + table + " has FORCE ROW LEVEL SECURITY, so its policies may hide rows "
           "from role " + role + " even as its owner; " + bypass + ", or ALTER TABLE " + table +
           " NO FORCE ROW LEVEL SECURITY and run as its owner (" + owner + ")";
  }
  return "row-level security is enabled on table " + table + " and role " + role +
         " neither owns it nor has BYPASSRLS, so its policies may hide rows; " + bypass +
         " or as the table's owner (" + owner + ")";
}

Result<std::optional<std::string>> PgStore::RowsHiddenFrom(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return connection_->Run<std::optional<std::string>>(
      "checking row-level security", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<std::optional<std::string>> {
        pqxx::read_transaction transaction(live);
        UDMG_ASSIGN_OR_RETURN(std::optional<ResolvedTable> table,
                              ResolveTableIn(transaction, connection_->user_schemas(),
                                             column.table));
        if (!table) return std::optional<std::string>();
        return RowsHiddenIn(transaction, table->sql);
      });
}

std::vector<ColumnRef> ListColumnsIn(pqxx::transaction_base& transaction) {
  std::vector<ColumnRef> columns;
  for (const pqxx::row& row : transaction.exec(
           "SELECT table_name, column_name, key_column, bound_since FROM udmg_encrypted_columns "
           "ORDER BY table_name COLLATE \"C\", column_name COLLATE \"C\"")) {
    columns.push_back(RegisteredColumn(row));
  }
  return columns;
}

Result<std::vector<ColumnRef>> PgStore::ListColumns() {
  return connection_->Read<std::vector<ColumnRef>>(
      "listing the registered columns",
      [&](pqxx::transaction_base& transaction) -> Result<std::vector<ColumnRef>> {
        return ListColumnsIn(transaction);
      });
}

Status PgStore::AddColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return connection_->RunStatus(
      "registering a column", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);  // for the audit entry, appended below
        UDMG_ASSIGN_OR_RETURN(
            std::optional<ResolvedTable> table,
            ResolveTableIn(transaction, connection_->user_schemas(), column.table));
        UDMG_RETURN_IF_ERROR(CheckColumnExists(transaction, column, table));
        // The schema is resolved once, here, and kept: a later search_path cannot move it.
        pqxx::result insert = transaction.exec_params(
            "INSERT INTO udmg_encrypted_columns (table_name, column_name, key_column, "
            "schema_name) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            column.table, column.column, column.key_column, table->schema);
        if (insert.affected_rows() == 0) {
          return Status(ErrorCode::kConflict,
                        "column '" + column.Name() + "' is already registered; nothing to do");
        }
        UDMG_RETURN_IF_ERROR(AppendKeyringKeptEntry(
            transaction, audit_signer(), Describe(), [&](const KeyringRecords& keyring) {
              return ColumnChangeEvent(keyring, ColumnChange::kAdd, column.table, column.column);
            }));
        transaction.commit();
        return Status::Ok();
      });
}

Status PgStore::RemoveColumn(std::string_view table, std::string_view column) {
  return connection_->RunStatus(
      "unregistering a column", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);  // for the audit entry, appended below
        pqxx::result removed = transaction.exec_params(
            "DELETE FROM udmg_encrypted_columns WHERE table_name = $1 AND column_name = $2",
            std::string(table), std::string(column));
        if (removed.affected_rows() == 0) return internal::NotRegistered(table, column);
        UDMG_RETURN_IF_ERROR(AppendKeyringKeptEntry(
            transaction, audit_signer(), Describe(), [&](const KeyringRecords& keyring) {
              return ColumnChangeEvent(keyring, ColumnChange::kRemove, table, column);
            }));
        transaction.commit();
        return Status::Ok();
      });
}

Result<ColumnRef> PgStore::FindColumn(std::string_view table, std::string_view column) {
  return connection_->Read<ColumnRef>(
      "looking up a registered column",
      [&](pqxx::transaction_base& transaction) -> Result<ColumnRef> {
        std::optional<ColumnRef> found = FindColumnIn(transaction, table, column);
        if (!found) return internal::NotRegistered(table, column);
        return *found;
      });
}

Status PgStore::CheckColumnStillExists(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return connection_->RunStatus(
      "checking the registered column " + column.Name(), Retry::kIdempotent,
      [&](pqxx::connection& live) -> Status {
        pqxx::read_transaction transaction(live);
        UDMG_ASSIGN_OR_RETURN(
            std::optional<ResolvedTable> resolved,
            ResolveTableIn(transaction, connection_->user_schemas(), column.table));
        std::optional<TableInfo> table = FindTable(transaction, resolved);
        if (!table) {
          return internal::RegisteredColumnMissing(column,
                                                   "table '" + column.table + "' does not exist");
        }
        for (const std::string* name : {&column.column, &column.key_column}) {
          if (!Attribute(transaction, table->oid, *name)) {
            return internal::RegisteredColumnMissing(
                column, "column '" + column.table + "." + *name + "' does not exist");
          }
        }
        return Status::Ok();
      });
}

Result<ValueColumnRoom> PgStore::MeasureValueColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  internal::QuotedColumn q(column);
  return connection_->Run<ValueColumnRoom>(
      "measuring the values of " + column.Name(), Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<ValueColumnRoom> {
        pqxx::read_transaction transaction(live);
        ValueColumnRoom room;
        UDMG_ASSIGN_OR_RETURN(
            std::optional<ResolvedTable> resolved,
            ResolveTableIn(transaction, connection_->user_schemas(), column.table));
        std::optional<TableInfo> table = FindTable(transaction, resolved);
        if (!table) return room;
        if (std::optional<AttributeInfo> value = Attribute(transaction, table->oid, column.column)) {
          room.max_chars = value->max_chars;
        }
        room.longest_plaintext =
            transaction
                .exec("SELECT coalesce(max(octet_length(" + q.column + "::text)), 0) FROM " +
                      resolved->sql + " WHERE NOT starts_with(" + q.column + "::text, 'udmg:')")[0][0]
                .as<uint64_t>();
        return room;
      });
}

Result<ColumnRef> PgStore::SetColumnBinding(std::string_view table, std::string_view column,
                                            bool bound) {
  // Not idempotent: a rerun after a lost COMMIT would append a second audit entry.
  return connection_->Run<ColumnRef>(
      "changing the row binding of a column", Retry::kNotIdempotent,
      [&](pqxx::connection& live) -> Result<ColumnRef> {
        pqxx::work transaction(live);
        // The keyring lock: no rotation between reading the newest master version and the
        // commit, so bound_since is exactly the first version made after binding.
        LockKeyring(transaction);
        pqxx::row newest = transaction.exec1("SELECT max(version) FROM udmg_master_keys");
        if (newest[0].is_null()) return internal::NoKeyring();
        // Binding a bound column again keeps its bound_since: a later one would accept again the
        // unbound values it already refuses (the downgrade of docs/security.md).
        pqxx::result updated = transaction.exec_params(
            "UPDATE udmg_encrypted_columns SET bound_since = CASE WHEN $3 "
            "THEN coalesce(bound_since, $4) ELSE NULL END "
            "WHERE table_name = $1 AND column_name = $2",
            std::string(table), std::string(column), bound, newest[0].as<int64_t>() + 1);
        if (updated.affected_rows() == 0) return internal::NotRegistered(table, column);
        // A binding is no key material: a backup that held the keyring still does (doctor
        // compares revisions), so it moves along with the revision.
        transaction.exec(
            "UPDATE udmg_backups SET keyring_revision = keyring_revision + 1 "
            "WHERE keyring_revision = (SELECT keyring_revision FROM udmg_meta)");
        // Clients reload their registered columns when the keyring revision moves.
        transaction.exec(
            "UPDATE udmg_meta SET keyring_revision = keyring_revision + 1 WHERE singleton = 1");
        std::optional<ColumnRef> stored = FindColumnIn(transaction, table, column);
        if (!stored) return internal::NotRegistered(table, column);
        UDMG_RETURN_IF_ERROR(AppendKeyringKeptEntry(
            transaction, audit_signer(), Describe(), [&](const KeyringRecords& keyring) {
              return ColumnChangeEvent(keyring, bound ? ColumnChange::kBind : ColumnChange::kUnbind,
                                       table, column);
            }));
        transaction.commit();
        return *stored;
      });
}

}  // namespace udmg::db::postgres
