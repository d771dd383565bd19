// SqliteStore: the registry of encrypted columns (udmg_encrypted_columns).
#include <algorithm>

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {

Result<std::vector<ColumnRef>> SqliteStore::ListColumns() {
  UDMG_ASSIGN_OR_RETURN(Statement list,
                        connection_->Prepare("SELECT table_name, column_name, key_column FROM "
                                             "udmg_encrypted_columns ORDER BY table_name, "
                                             "column_name",
                                             "listing the registered columns"));
  std::vector<ColumnRef> columns;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, list.Step());
    if (!has_row) break;
    columns.push_back(ColumnRef{list.Text(0), list.Text(1), list.Text(2)});
  }
  return columns;
}

Status SqliteStore::CheckColumnExists(const ColumnRef& column) {
  constexpr std::string_view kWhat = "checking the column to register";
  {
    // Exact, case-sensitive names, as PostgreSQL will need them quoted.
    UDMG_ASSIGN_OR_RETURN(Statement table,
                          connection_->Prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' "
                                               "AND name = ?1",
                                               kWhat));
    table.BindText(1, column.table);
    UDMG_ASSIGN_OR_RETURN(bool exists, table.Step());
    if (!exists) {
      return Status(ErrorCode::kNotFound, "table '" + column.table +
                                              "' does not exist; create it or check the name "
                                              "(names are case-sensitive)");
    }
  }
  std::vector<std::string> names;
  std::vector<std::string> primary_key;
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement info, connection_->Prepare("SELECT name, pk FROM pragma_table_info(?1)", kWhat));
    info.BindText(1, column.table);
    for (;;) {
      UDMG_ASSIGN_OR_RETURN(bool has_row, info.Step());
      if (!has_row) break;
      names.push_back(info.Text(0));
      if (info.Int(1) > 0) primary_key.push_back(info.Text(0));
    }
  }
  auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (!has(column.column)) {
    return Status(ErrorCode::kNotFound,
                  "column '" + column.Name() + "' does not exist; check the name (case-sensitive)");
  }
  if (!has(column.key_column)) {
    return Status(ErrorCode::kNotFound, "key column '" + column.table + "." + column.key_column +
                                            "' does not exist; name the table's primary key");
  }
  // Keyset pagination and compare-and-swap need one row per key.
  if (primary_key.size() == 1 && primary_key[0] == column.key_column) return Status::Ok();
  UDMG_ASSIGN_OR_RETURN(
      Statement unique,
      connection_->Prepare("SELECT 1 FROM pragma_index_list(?1) AS list WHERE list.\"unique\" = 1 "
                           "AND list.partial = 0 AND (SELECT count(*) FROM "
                           "pragma_index_info(list.name)) = 1 AND (SELECT name FROM "
                           "pragma_index_info(list.name)) = ?2",
                           kWhat));
  unique.BindText(1, column.table);
  unique.BindText(2, column.key_column);
  UDMG_ASSIGN_OR_RETURN(bool is_unique, unique.Step());
  if (!is_unique) {
    return Status(ErrorCode::kBadInput, "key column '" + column.table + "." + column.key_column +
                                            "' is not unique; use the primary key or a column "
                                            "with a unique index");
  }
  return Status::Ok();
}

Status SqliteStore::AddColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  constexpr std::string_view kWhat = "registering a column";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  UDMG_RETURN_IF_ERROR(CheckColumnExists(column));
  {
    UDMG_ASSIGN_OR_RETURN(Statement insert,
                          connection_->Prepare("INSERT INTO udmg_encrypted_columns (table_name, "
                                               "column_name, key_column) VALUES (?1, ?2, ?3) "
                                               "ON CONFLICT DO NOTHING",
                                               kWhat));
    insert.BindText(1, column.table);
    insert.BindText(2, column.column);
    insert.BindText(3, column.key_column);
    UDMG_RETURN_IF_ERROR(insert.Run());
    if (connection_->Changes() == 0) {
      return Status(ErrorCode::kConflict,
                    "column '" + column.Name() + "' is already registered; nothing to do");
    }
  }
  return transaction.Commit();
}

Status SqliteStore::RemoveColumn(std::string_view table, std::string_view column) {
  constexpr std::string_view kWhat = "unregistering a column";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
    UDMG_ASSIGN_OR_RETURN(Statement remove,
                          connection_->Prepare("DELETE FROM udmg_encrypted_columns WHERE "
                                               "table_name = ?1 AND column_name = ?2",
                                               kWhat));
    remove.BindText(1, table);
    remove.BindText(2, column);
    UDMG_RETURN_IF_ERROR(remove.Run());
    if (connection_->Changes() == 0) return internal::NotRegistered(table, column);
  }
  return transaction.Commit();
}

Result<ColumnRef> SqliteStore::FindColumn(std::string_view table, std::string_view column) {
  UDMG_ASSIGN_OR_RETURN(Statement find,
                        connection_->Prepare("SELECT key_column FROM udmg_encrypted_columns "
                                             "WHERE table_name = ?1 AND column_name = ?2",
                                             "looking up a registered column"));
  find.BindText(1, table);
  find.BindText(2, column);
  UDMG_ASSIGN_OR_RETURN(bool found, find.Step());
  if (!found) return internal::NotRegistered(table, column);
  return ColumnRef{std::string(table), std::string(column), find.Text(0)};
}

}  // namespace udmg::db::sqlite
