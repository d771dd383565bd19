// SqliteStore: the registry of encrypted columns (udmg_encrypted_columns).
#include <algorithm>

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

using internal::QuotedColumn;

// A registered column from a row of (table_name, column_name, key_column, bound_since).
ColumnRef RegisteredColumn(const Statement& row) {
  ColumnRef column{row.Text(0), row.Text(1), row.Text(2)};
  if (!row.IsNull(3)) column.bound_since = static_cast<uint32_t>(row.Int(3));
  return column;
}

}  // namespace

Result<std::vector<ColumnRef>> SqliteStore::ListColumns() {
  return connection_->ReadRows<ColumnRef>(
      "SELECT table_name, column_name, key_column, bound_since FROM udmg_encrypted_columns "
      "ORDER BY table_name, column_name",
      "listing the registered columns", RegisteredColumn);
}

Result<std::optional<std::vector<SqliteStore::TableColumn>>> SqliteStore::TableColumns(
    std::string_view table) {
  constexpr std::string_view kWhat = "reading the columns of a table";
  // Exact, case-sensitive names, as PostgreSQL will need them quoted.
  UDMG_ASSIGN_OR_RETURN(
      std::optional<int64_t> exists,
      connection_->QueryInt("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", kWhat,
                            table));
  if (!exists) return std::optional<std::vector<TableColumn>>();
  UDMG_ASSIGN_OR_RETURN(
      Statement info,
      connection_->Prepare("SELECT name, pk, \"notnull\" FROM pragma_table_info(?1)", kWhat));
  info.BindText(1, table);
  std::vector<TableColumn> columns;
  UDMG_RETURN_IF_ERROR(info.ForEachRow([&](const Statement& row) {
    columns.push_back(TableColumn{row.Text(0), row.Int(1) > 0, row.Int(2) != 0});
  }));
  return std::optional<std::vector<TableColumn>>(std::move(columns));
}

namespace {

const SqliteStore::TableColumn* Named(const std::vector<SqliteStore::TableColumn>& columns,
                                      const std::string& name) {
  auto found = std::find_if(columns.begin(), columns.end(),
                            [&](const SqliteStore::TableColumn& c) { return c.name == name; });
  return found == columns.end() ? nullptr : &*found;
}

}  // namespace

Status SqliteStore::CheckColumnStillExists(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  UDMG_ASSIGN_OR_RETURN(auto columns, TableColumns(column.table));
  if (!columns) {
    return internal::RegisteredColumnMissing(column, "table '" + column.table + "' does not exist");
  }
  for (const std::string* name : {&column.column, &column.key_column}) {
    if (Named(*columns, *name) == nullptr) {
      return internal::RegisteredColumnMissing(
          column, "column '" + column.table + "." + *name + "' does not exist");
    }
  }
  return Status::Ok();
}

Status SqliteStore::CheckColumnExists(const ColumnRef& column) {
  constexpr std::string_view kWhat = "checking the column to register";
  UDMG_ASSIGN_OR_RETURN(auto columns, TableColumns(column.table));
  if (!columns) {
    return Status(ErrorCode::kNotFound, "table '" + column.table +
                                            "' does not exist; create it or check the name "
                                            "(names are case-sensitive)");
  }
  if (Named(*columns, column.column) == nullptr) {
    return Status(ErrorCode::kNotFound,
                  "column '" + column.Name() + "' does not exist; check the name (case-sensitive)");
  }
  const TableColumn* key = Named(*columns, column.key_column);
  if (key == nullptr) {
    return Status(ErrorCode::kNotFound, "key column '" + column.table + "." + column.key_column +
                                            "' does not exist; name the table's primary key");
  }
  // Keyset pagination and compare-and-swap need one row per key.
  size_t primary_key_columns = std::count_if(
      columns->begin(), columns->end(), [](const TableColumn& c) { return c.primary_key; });
  bool is_primary_key = key->primary_key && primary_key_columns == 1;
  if (!is_primary_key) {
    UDMG_ASSIGN_OR_RETURN(
        std::optional<int64_t> unique_index,
        connection_->QueryInt(
            "SELECT 1 FROM pragma_index_list(?1) AS list WHERE list.\"unique\" = 1 "
            "AND list.partial = 0 AND (SELECT count(*) FROM "
            "pragma_index_info(list.name)) = 1 AND (SELECT name FROM "
            "pragma_index_info(list.name)) = ?2",
            kWhat, column.table, column.key_column));
    if (!unique_index) {
      return Status(ErrorCode::kBadInput, "key column '" + column.table + "." +
                                              column.key_column +
                                              "' is not unique; use the primary key or a column "
                                              "with a unique index");
    }
  }
  return CheckKeyNeverNull(column, *key, is_primary_key);
}

// SQLite lets a PRIMARY KEY other than INTEGER PRIMARY KEY hold NULL (a documented legacy quirk),
// so such a key is accepted while it holds none; any other key column must be NOT NULL.
Status SqliteStore::CheckKeyNeverNull(const ColumnRef& column, const TableColumn& key,
                                      bool is_primary_key) {
  if (key.not_null) return Status::Ok();
  if (!is_primary_key) return internal::NullableKeyColumn(column, "can hold NULL");
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(Statement nulls,
                        connection_->Prepare("SELECT 1 FROM " + q.table + " WHERE " + q.key +
                                                 " IS NULL LIMIT 1",
                                             "checking the key column to register"));
  UDMG_ASSIGN_OR_RETURN(bool has_null, nulls.Step());
  if (has_null) return internal::NullableKeyColumn(column, "holds NULL in some rows");
  return Status::Ok();
}

// SQLite does not enforce a declared length (varchar(n) holds any text), so only the longest
// plaintext is measured, for symmetry with PostgreSQL.
Result<ValueColumnRoom> SqliteStore::MeasureValueColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(Statement longest,
                        connection_->Prepare("SELECT coalesce(max(length(CAST(" + q.column +
                                                 " AS BLOB))), 0) FROM " + q.table + " WHERE " +
                                                 "substr(" + q.column + ", 1, 5) <> 'udmg:'",
                                             "measuring the values of " + column.Name()));
  UDMG_ASSIGN_OR_RETURN(bool has_row, longest.Step());
  ValueColumnRoom room;
  if (has_row) room.longest_plaintext = static_cast<uint64_t>(longest.Int(0));
  return room;
}

Status SqliteStore::AddColumn(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  constexpr std::string_view kWhat = "registering a column";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    UDMG_RETURN_IF_ERROR(CheckColumnExists(column));
    UDMG_RETURN_IF_ERROR(connection_->Execute(
        "INSERT INTO udmg_encrypted_columns (table_name, column_name, key_column) "
        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        kWhat, column.table, column.column, column.key_column));
    if (connection_->Changes() == 0) {
      return Status(ErrorCode::kConflict,
                    "column '" + column.Name() + "' is already registered; nothing to do");
    }
    return AppendKeyringKeptLocked([&](const KeyringRecords& keyring) {
      return ColumnChangeEvent(keyring, ColumnChange::kAdd, column.table, column.column);
    });
  });
}

Status SqliteStore::RemoveColumn(std::string_view table, std::string_view column) {
  constexpr std::string_view kWhat = "unregistering a column";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    UDMG_RETURN_IF_ERROR(connection_->Execute(
        "DELETE FROM udmg_encrypted_columns WHERE table_name = ?1 AND column_name = ?2", kWhat,
        table, column));
    if (connection_->Changes() == 0) return internal::NotRegistered(table, column);
    return AppendKeyringKeptLocked([&](const KeyringRecords& keyring) {
      return ColumnChangeEvent(keyring, ColumnChange::kRemove, table, column);
    });
  });
}

Result<ColumnRef> SqliteStore::FindColumn(std::string_view table, std::string_view column) {
  UDMG_ASSIGN_OR_RETURN(Statement find,
                        connection_->Prepare("SELECT table_name, column_name, key_column, "
                                             "bound_since FROM udmg_encrypted_columns "
                                             "WHERE table_name = ?1 AND column_name = ?2",
                                             "looking up a registered column"));
  find.BindAll(table, column);
  UDMG_ASSIGN_OR_RETURN(bool found, find.Step());
  if (!found) return internal::NotRegistered(table, column);
  return RegisteredColumn(find);
}

Result<std::optional<uint32_t>> SqliteStore::NewestMasterVersion() {
  UDMG_ASSIGN_OR_RETURN(Statement newest,
                        connection_->Prepare("SELECT max(version) FROM udmg_master_keys",
                                             "reading the newest master version"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, newest.Step());
  if (!has_row || newest.IsNull(0)) return std::optional<uint32_t>();
  return std::optional<uint32_t>(static_cast<uint32_t>(newest.Int(0)));
}

Result<ColumnRef> SqliteStore::SetColumnBinding(std::string_view table, std::string_view column,
                                                bool bound) {
  constexpr std::string_view kWhat = "changing the row binding of a column";
  // BEGIN IMMEDIATE is the keyring lock: no rotation between reading the newest master version
  // and the commit, so bound_since is exactly the first version made after binding.
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  UDMG_ASSIGN_OR_RETURN(std::optional<uint32_t> newest, NewestMasterVersion());
  if (!newest) return internal::NoKeyring();
  // Binding a bound column again keeps its bound_since: a later one would accept again the
  // unbound values it already refuses (the downgrade of docs/security.md).
  UDMG_RETURN_IF_ERROR(connection_->Execute(
      "UPDATE udmg_encrypted_columns SET bound_since = CASE WHEN ?3 "
      "THEN coalesce(bound_since, ?4) ELSE NULL END WHERE table_name = ?1 AND column_name = ?2",
      kWhat, table, column, bound ? 1 : 0, int64_t{*newest} + 1));
  if (connection_->Changes() == 0) return internal::NotRegistered(table, column);
  // A binding is no key material: a backup that held the keyring still does (doctor compares
  // revisions), so it moves along with the revision.
  UDMG_RETURN_IF_ERROR(
      connection_->Execute("UPDATE udmg_backups SET keyring_revision = keyring_revision + 1 "
                           "WHERE keyring_revision = (SELECT keyring_revision FROM udmg_meta)",
                           kWhat));
  // Clients reload their registered columns when the keyring revision moves.
  UDMG_RETURN_IF_ERROR(connection_->Execute(
      "UPDATE udmg_meta SET keyring_revision = keyring_revision + 1 WHERE singleton = 1", kWhat));
  UDMG_ASSIGN_OR_RETURN(ColumnRef stored, FindColumn(table, column));
  UDMG_RETURN_IF_ERROR(AppendKeyringKeptLocked([&](const KeyringRecords& keyring) {
    return ColumnChangeEvent(keyring, bound ? ColumnChange::kBind : ColumnChange::kUnbind, table,
                             column);
  }));
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return stored;
}

}  // namespace udmg::db::sqlite
