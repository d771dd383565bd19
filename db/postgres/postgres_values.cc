// PgStore: values of registered columns (read, write, stale scans, counts, compare-and-swap) and
// the demo table. Identifiers are validated and double-quoted; values are always parameters.
#include <algorithm>
#include <string>

#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

using internal::QuotedColumn;

// Stale values; $<first> = the target prefix (TargetPrefix: "udmg:vN:", or "udmg:bN:" for a bound
// column), $<first+1> = include plaintext.
// starts_with() is case-sensitive and needs no LIKE escaping.
std::string StalePredicate(const QuotedColumn& q, int first) {
  return q.column + " IS NOT NULL AND CASE WHEN starts_with(" + q.column +
         ", 'udmg:') THEN NOT starts_with(" + q.column + ", $" + std::to_string(first) +
         "::text) ELSE $" + std::to_string(first + 1) + "::boolean END";
}

// The column's binding comes from the caller's ColumnRef (as registered), never looked up here.
void AddStaleParameters(const ColumnRef& column, const StaleFilter& filter,
                        std::vector<std::string>& parameters) {
  parameters.push_back(TargetPrefix(column, filter.target_version));
  parameters.push_back(filter.include_plaintext ? "true" : "false");
}

// The quoted names of `column`, its table schema-qualified as resolved for this connection.
QuotedColumn QuotedIn(const ColumnRef& column, const KeyColumnType& type) {
  QuotedColumn q(column);
  q.table = type.table_sql;
  return q;
}

Status NoSuchRow(const ColumnRef& column, const RowKey& key) {
  return Status(ErrorCode::kNotFound, "no row of table '" + column.table + "' has " +
                                          column.key_column + " = " + RowKeyText(key) +
                                          "; check the key");
}

std::optional<std::string> OptionalText(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return std::string(field.c_str(), field.size());
}

}  // namespace

Result<KeyColumnType> PgStore::KeyTypeOf(const ColumnRef& column, std::string_view what) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  std::string cache_key = column.Name() + "." + column.key_column;
  if (auto it = key_types_.find(cache_key); it != key_types_.end()) return it->second;
  UDMG_ASSIGN_OR_RETURN(
      KeyColumnType type,
      connection_->Run<KeyColumnType>(
          what, Retry::kIdempotent, [&](pqxx::connection& live) -> Result<KeyColumnType> {
            pqxx::read_transaction transaction(live);
            UDMG_ASSIGN_OR_RETURN(
                std::optional<ResolvedTable> table,
                ResolveTableIn(transaction, connection_->user_schemas(), column.table));
            std::optional<KeyColumnType> type;
            if (table) type = ReadKeyColumnType(transaction, table->sql, column.key_column);
            if (!type) {
              return Error{ErrorCode::kDatabase,
                           Describe() + ": " + std::string(what) + " failed: table '" +
                               column.table + "' or its key column '" + column.key_column +
                               "' does not exist; check the registered column"};
            }
            return *type;
          }));
  key_types_.emplace(cache_key, type);
  return type;
}

Result<std::optional<StoredValue>> PgStore::ReadValue(const ColumnRef& column,
                                                      const RowKey& key) {
  std::string what = "reading " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  std::optional<std::string> key_text = KeyParameter(type, key);
  if (!key_text) return std::optional<StoredValue>();
  QuotedColumn q = QuotedIn(column, type);
  return connection_->Read<std::optional<StoredValue>>(
      what, [&](pqxx::transaction_base& transaction) -> Result<std::optional<StoredValue>> {
        pqxx::result row = transaction.exec_prepared(
            connection_->Prepared("SELECT " + q.key + ", " + q.column + " FROM " + q.table +
                                  " WHERE " + q.key + " = $1 LIMIT 1"),
            *key_text);
        if (row.empty()) return std::optional<StoredValue>();
        return std::optional<StoredValue>(
            StoredValue{KeyFromField(type, row[0][0]), OptionalText(row[0][1])});
      });
}

Status PgStore::WriteValue(const ColumnRef& column, const RowKey& key,
                           const std::optional<std::string>& value) {
  std::string what = "writing " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  std::optional<std::string> key_text = KeyParameter(type, key);
  if (!key_text) return NoSuchRow(column, key);
  QuotedColumn q = QuotedIn(column, type);
  // Idempotent: writing the same value twice leaves the same row.
  return connection_->RunStatus(what, Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
    pqxx::work transaction(live);
    pqxx::result updated = transaction.exec_params(
        "UPDATE " + q.table + " SET " + q.column + " = $1 WHERE " + q.key + " = $2",
        value ? value->c_str() : nullptr, *key_text);
    if (updated.affected_rows() == 0) return NoSuchRow(column, key);
    transaction.commit();
    return Status::Ok();
  });
}

Result<std::vector<StoredValue>> PgStore::FetchPage(const ColumnRef& column,
                                                    const StaleFilter* filter,
                                                    const std::optional<RowKey>& after,
                                                    size_t limit) {
  std::string what = "scanning " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  QuotedColumn q = QuotedIn(column, type);
  std::vector<std::string> parameters;
  // Two statements rather than "$1 IS NULL OR key > $1", which would stop the index range scan.
  std::string where = q.key + " IS NOT NULL";
  if (after) {
    std::optional<std::string> after_text = KeyParameter(type, *after);
    if (!after_text) {
      return Error{ErrorCode::kBadInput, "the scan position " + RowKeyText(*after) +
                                             " is not a " + type.sql_type + " key of " +
                                             column.Name() + "; start the scan again"};
    }
    parameters.push_back(*after_text);
    where = q.key + " > $1";
  }
  if (filter != nullptr) {
    where += " AND " + StalePredicate(q, static_cast<int>(parameters.size()) + 1);
    AddStaleParameters(column, *filter, parameters);
  } else {
    where += " AND " + q.column + " IS NOT NULL";
  }
  parameters.push_back(std::to_string(std::min<size_t>(limit, INT64_MAX)));
  std::string sql = "SELECT " + q.key + ", " + q.column + " FROM " + q.table + " WHERE " + where +
                    " ORDER BY " + q.key + " LIMIT $" + std::to_string(parameters.size()) +
                    "::bigint";
  return connection_->Read<std::vector<StoredValue>>(
      what, [&](pqxx::transaction_base& transaction) -> Result<std::vector<StoredValue>> {
        pqxx::result rows = transaction.exec_prepared(
            connection_->Prepared(sql), pqxx::prepare::make_dynamic_params(parameters));
        std::vector<StoredValue> values;
        values.reserve(rows.size());
        for (const pqxx::row& row : rows) {
          values.push_back(StoredValue{KeyFromField(type, row[0]), OptionalText(row[1])});
        }
        return values;
      });
}

Result<std::vector<StoredValue>> PgStore::FetchStale(const ColumnRef& column,
                                                     const StaleFilter& filter,
                                                     const std::optional<RowKey>& after,
                                                     size_t limit) {
  return FetchPage(column, &filter, after, limit);
}

Result<std::vector<StoredValue>> PgStore::FetchValues(const ColumnRef& column,
                                                      const std::optional<RowKey>& after,
                                                      size_t limit) {
  return FetchPage(column, nullptr, after, limit);
}

Result<uint64_t> PgStore::CountStale(const ColumnRef& column, const StaleFilter& filter) {
  std::string what = "counting stale values of " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  QuotedColumn q = QuotedIn(column, type);
  std::vector<std::string> parameters;
  AddStaleParameters(column, filter, parameters);
  return connection_->Read<uint64_t>(
      what, [&](pqxx::transaction_base& transaction) -> Result<uint64_t> {
        return transaction
            .exec_params("SELECT count(*) FROM " + q.table + " WHERE " + StalePredicate(q, 1),
                         pqxx::prepare::make_dynamic_params(parameters))[0][0]
            .as<uint64_t>();
      });
}

Result<uint64_t> PgStore::CountUnaddressable(const ColumnRef& column, const StaleFilter* filter) {
  std::string what = "counting rows of " + column.Name() + " without a key";
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  QuotedColumn q = QuotedIn(column, type);
  std::vector<std::string> parameters;
  std::string values = q.column + " IS NOT NULL";
  if (filter) {
    values = StalePredicate(q, 1);
    AddStaleParameters(column, *filter, parameters);
  }
  return connection_->Read<uint64_t>(
      what, [&](pqxx::transaction_base& transaction) -> Result<uint64_t> {
        return transaction
            .exec_params("SELECT count(*) FROM " + q.table + " WHERE " + q.key + " IS NULL AND " +
                             values,
                         pqxx::prepare::make_dynamic_params(parameters))[0][0]
            .as<uint64_t>();
      });
}

Result<std::vector<RowKey>> PgStore::SampleRangeBounds(const ColumnRef& column,
                                                       const StaleFilter& filter,
                                                       uint64_t rows_per_range) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  std::string what = "splitting " + column.Name() + " into key ranges";
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  QuotedColumn q = QuotedIn(column, type);
  std::vector<std::string> parameters;
  AddStaleParameters(column, filter, parameters);
  parameters.push_back(std::to_string(std::max<uint64_t>(1, rows_per_range)));
  std::string sql = "SELECT k FROM (SELECT " + q.key + " AS k, row_number() OVER (ORDER BY " +
                    q.key + ") AS n FROM " + q.table + " WHERE " + q.key + " IS NOT NULL AND " +
                    StalePredicate(q, 1) + ") s WHERE n % $3::bigint = 0 ORDER BY k";
  return connection_->Read<std::vector<RowKey>>(
      what, [&](pqxx::transaction_base& transaction) -> Result<std::vector<RowKey>> {
        pqxx::result rows =
            transaction.exec_params(sql, pqxx::prepare::make_dynamic_params(parameters));
        std::vector<RowKey> keys;
        keys.reserve(rows.size());
        for (const pqxx::row& row : rows) keys.push_back(KeyFromField(type, row[0]));
        return keys;
      });
}

ValueCounts CountValuesIn(pqxx::transaction_base& transaction, const ColumnRef& column,
                          const std::string& table_sql) {
  QuotedColumn q(column);
  q.table = table_sql;
  // Group label per value (see internal::AddPrefixCount): "" for NULL, "plain", or the text up
  // to the second colon when it comes within 12 characters ("udmg:v4294967295:", and so
  // "udmg:b7:" for a bound value), else "udmg:".
  const std::string& c = q.column;
  std::string sql = "SELECT label, count(*) FROM (SELECT CASE WHEN " + c +
                    " IS NULL THEN '' WHEN left(" + c + ", 5) <> 'udmg:' THEN 'plain' WHEN "
                    "strpos(substr(" + c + ", 6, 13), ':') > 0 THEN left(" + c +
                    ", 5 + strpos(substr(" + c + ", 6, 13), ':')) ELSE 'udmg:' END AS label "
                    "FROM " + q.table + ") AS labels GROUP BY label";
  ValueCounts counts;
  for (const pqxx::row& row : transaction.exec(sql)) {
    internal::AddPrefixCount(row[0].as<std::string>(), row[1].as<uint64_t>(), counts);
  }
  return counts;
}

Result<ValueCounts> PgStore::CountValues(const ColumnRef& column) {
  std::string what = "counting values of " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  return connection_->Read<ValueCounts>(
      what, [&](pqxx::transaction_base& transaction) -> Result<ValueCounts> {
        return CountValuesIn(transaction, column, type.table_sql);
      });
}

Result<std::vector<CasOutcome>> PgStore::CompareAndSwapChecked(const ColumnRef& column,
                                                               std::span<const CasWrite> writes) {
  return CompareAndSwapWith(options_.cas_method, column, writes);
}

Result<std::vector<CasOutcome>> PgStore::CompareAndSwapWith(CasMethod method,
                                                            const ColumnRef& column,
                                                            std::span<const CasWrite> writes) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  if (writes.empty()) return std::vector<CasOutcome>();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, "writing back " + column.Name()));
  return CompareAndSwapBatch(*connection_, method, column, type, writes);
}

Result<RowWriteResult> PgStore::CompareAndSwapOne(const ColumnRef& column, const CasWrite& write) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  std::string what = "writing back " + column.Name();
  UDMG_ASSIGN_OR_RETURN(KeyColumnType type, KeyTypeOf(column, what));
  std::optional<std::string> key_text = KeyParameter(type, write.key);
  if (!key_text) return RowWriteResult{};
  QuotedColumn q = QuotedIn(column, type);
  return connection_->Run<RowWriteResult>(
      what, Retry::kIdempotent, [&](pqxx::connection& live) -> Result<RowWriteResult> {
        pqxx::work transaction(live);
        RowWriteResult result;
        try {
          pqxx::result updated = transaction.exec_prepared(
              connection_->Prepared("UPDATE " + q.table + " SET " + q.column + " = $1 WHERE " +
                                    q.key + " = $2 AND " + q.column + " = $3 RETURNING " +
                                    q.column + " IS NOT DISTINCT FROM $1"),
              write.replacement, *key_text, write.expected);
          result.applied = !updated.empty();
          result.altered = result.applied && !updated[0][0].as<bool>();
        } catch (const pqxx::sql_error& e) {
          // Data exceptions, integrity constraints, PL/pgSQL RAISE: this row's data is refused.
          std::string state = e.sqlstate();
          if (state.rfind("22", 0) != 0 && state.rfind("23", 0) != 0 &&
              state.rfind("P0", 0) != 0) {
            throw;
          }
          std::string message = e.what();
          message = message.substr(0, message.find('\n'));
          if (message.rfind("ERROR:", 0) == 0) {
            message = message.substr(std::min(message.size(), message.find_first_not_of(' ', 6)));
          }
          result.refused = message;  // the transaction is rolled back: nothing written
          return result;
        }
        transaction.commit();
        return result;
      });
}

}  // namespace udmg::db::postgres
