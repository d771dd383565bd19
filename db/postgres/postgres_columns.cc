// PgStore: the registry of encrypted columns (udmg_encrypted_columns). Tables resolve through the
// search_path, with exact (quoted, case-sensitive) names.
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// The oid of `table` (an ordinary or partitioned table through the search_path, exact name).
std::optional<int64_t> TableOid(pqxx::transaction_base& transaction, const std::string& table) {
  pqxx::result found = transaction.exec_params(
      "SELECT c.oid::bigint FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1)) "
      "AND c.relkind IN ('r', 'p')",
      table);
  if (found.empty()) return std::nullopt;
  return found[0][0].as<int64_t>();
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

// kNotFound naming the missing table or column; kBadInput for a key column that is neither the
// primary key nor under a unique, non-partial, one-column index, or that can hold NULL; and for
// a value column that is not text-like.
Status CheckColumnExists(pqxx::transaction_base& transaction, const ColumnRef& column) {
  std::optional<int64_t> oid = TableOid(transaction, column.table);
  if (!oid) {
    return Status(ErrorCode::kNotFound, "table '" + column.table +
                                            "' does not exist; create it or check the name "
                                            "(names are case-sensitive)");
  }
  std::optional<AttributeInfo> value = Attribute(transaction, *oid, column.column);
  if (!value) {
    return Status(ErrorCode::kNotFound,
                  "column '" + column.Name() + "' does not exist; check the name (case-sensitive)");
  }
  std::optional<AttributeInfo> key = Attribute(transaction, *oid, column.key_column);
  if (!key) {
    return Status(ErrorCode::kNotFound, "key column '" + column.table + "." + column.key_column +
                                            "' does not exist; name the table's primary key");
  }
  // Keyset pagination and compare-and-swap need one row per key (a primary key is unique too).
  pqxx::result unique = transaction.exec_params(
      "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
      "AND a.attnum = i.indkey[0] WHERE i.indrelid = $1::bigint::oid AND i.indisunique "
      "AND i.indpred IS NULL AND i.indnkeyatts = 1 AND a.attname = $2",
      *oid, column.key_column);
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
  return connection_->Run<std::vector<ColumnRef>>(
      "listing the registered columns", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<std::vector<ColumnRef>> {
        pqxx::nontransaction transaction(live);
        return ListColumnsIn(transaction);
      });
}

Status PgStore::AddColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return connection_->RunStatus(
      "registering a column", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        UDMG_RETURN_IF_ERROR(CheckColumnExists(transaction, column));
        pqxx::result insert = transaction.exec_params(
            "INSERT INTO udmg_encrypted_columns (table_name, column_name, key_column) "
            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            column.table, column.column, column.key_column);
        if (insert.affected_rows() == 0) {
          return Status(ErrorCode::kConflict,
                        "column '" + column.Name() + "' is already registered; nothing to do");
        }
        transaction.commit();
        return Status::Ok();
      });
}

Status PgStore::RemoveColumn(std::string_view table, std::string_view column) {
  return connection_->RunStatus(
      "unregistering a column", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        pqxx::result removed = transaction.exec_params(
            "DELETE FROM udmg_encrypted_columns WHERE table_name = $1 AND column_name = $2",
            std::string(table), std::string(column));
        if (removed.affected_rows() == 0) return internal::NotRegistered(table, column);
        transaction.commit();
        return Status::Ok();
      });
}

Result<ColumnRef> PgStore::FindColumn(std::string_view table, std::string_view column) {
  return connection_->Run<ColumnRef>(
      "looking up a registered column", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<ColumnRef> {
        pqxx::nontransaction transaction(live);
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
        std::optional<int64_t> oid = TableOid(transaction, column.table);
        if (!oid) {
          return internal::RegisteredColumnMissing(column,
                                                   "table '" + column.table + "' does not exist");
        }
        for (const std::string* name : {&column.column, &column.key_column}) {
          if (!Attribute(transaction, *oid, *name)) {
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
        std::optional<int64_t> oid = TableOid(transaction, column.table);
        if (!oid) return room;
        if (std::optional<AttributeInfo> value = Attribute(transaction, *oid, column.column)) {
          room.max_chars = value->max_chars;
        }
        room.longest_plaintext =
            transaction
                .exec("SELECT coalesce(max(octet_length(" + q.column + "::text)), 0) FROM " +
                      q.table + " WHERE NOT starts_with(" + q.column + "::text, 'udmg:')")[0][0]
                .as<uint64_t>();
        return room;
      });
}

Result<ColumnRef> PgStore::SetColumnBinding(std::string_view table, std::string_view column,
                                            bool bound) {
  // Idempotent: a rerun after a lost COMMIT keeps bound_since (see below) and only bumps the
  // revision once more, which makes clients reload once more.
  return connection_->Run<ColumnRef>(
      "changing the row binding of a column", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<ColumnRef> {
        pqxx::work transaction(live);
        // The keyring lock: no rotation between reading the newest master version and the
        // commit, so bound_since is exactly the first version made after binding.
        transaction.exec_params("SELECT pg_advisory_xact_lock($1)", kKeyringLockId);
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
        transaction.commit();
        return *stored;
      });
}

}  // namespace udmg::db::postgres
