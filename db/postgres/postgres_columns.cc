// PgStore: the registry of encrypted columns (udmg_encrypted_columns). Tables resolve through the
// search_path, with exact (quoted, case-sensitive) names.
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// kNotFound naming the missing table or column; kBadInput for a key column that is neither the
// primary key nor under a unique, non-partial, one-column index.
Status CheckColumnExists(pqxx::transaction_base& transaction, const ColumnRef& column) {
  pqxx::result table = transaction.exec_params(
      "SELECT c.oid::bigint FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1)) "
      "AND c.relkind IN ('r', 'p')",
      column.table);
  if (table.empty()) {
    return Status(ErrorCode::kNotFound, "table '" + column.table +
                                            "' does not exist; create it or check the name "
                                            "(names are case-sensitive)");
  }
  int64_t oid = table[0][0].as<int64_t>();
  auto has_column = [&](const std::string& name) {
    return !transaction
                .exec_params("SELECT 1 FROM pg_attribute WHERE attrelid = $1::bigint::oid AND "
                             "attname = $2 AND attnum > 0 AND NOT attisdropped",
                             oid, name)
                .empty();
  };
  if (!has_column(column.column)) {
    return Status(ErrorCode::kNotFound,
                  "column '" + column.Name() + "' does not exist; check the name (case-sensitive)");
  }
  if (!has_column(column.key_column)) {
    return Status(ErrorCode::kNotFound, "key column '" + column.table + "." + column.key_column +
                                            "' does not exist; name the table's primary key");
  }
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
  return Status::Ok();
}

}  // namespace

std::vector<ColumnRef> ListColumnsIn(pqxx::transaction_base& transaction) {
  std::vector<ColumnRef> columns;
  for (const pqxx::row& row : transaction.exec(
           "SELECT table_name, column_name, key_column FROM udmg_encrypted_columns "
           "ORDER BY table_name COLLATE \"C\", column_name COLLATE \"C\"")) {
    columns.push_back(ColumnRef{row[0].as<std::string>(), row[1].as<std::string>(),
                                row[2].as<std::string>()});
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
        pqxx::result found = transaction.exec_params(
            "SELECT key_column FROM udmg_encrypted_columns WHERE table_name = $1 AND "
            "column_name = $2",
            std::string(table), std::string(column));
        if (found.empty()) return internal::NotRegistered(table, column);
        return ColumnRef{std::string(table), std::string(column), found[0][0].as<std::string>()};
      });
}

}  // namespace udmg::db::postgres
