// Row keys on PostgreSQL: a key column's type, read once from the catalog, decides how a RowKey is
// bound (as text, cast to that type) and read back (integer types give int64, others text).
//
// Thread-safety: free functions and plain values, no shared state.
#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "db/store.h"

namespace udmg::db::postgres {

struct KeyColumnType {
  std::string sql_type;  // format_type without modifier: "integer", "text", "character varying"
  int integer_bits = 0;  // 16, 32 or 64 for smallint, integer, bigint; 0 for any other type
  std::string table_sql;  // the column's table, schema-qualified and quoted (ResolvedTable::sql)
};

// The text to bind for `key`, or nullopt when no row can have it: a text key that is not a
// decimal integer (or is out of range) on an integer column. "007" matches 7, as on SQLite.
std::optional<std::string> KeyParameter(const KeyColumnType& type, const RowKey& key);

// The key as the database returned it.
RowKey KeyFromField(const KeyColumnType& type, const pqxx::field& field);

// A PostgreSQL text[] literal with every element quoted: {"a","b\"c"}. Any text is safe in it.
std::string TextArrayLiteral(const std::vector<std::string>& elements);

// Reads the key column's type from the catalog, in the table `table_sql` ("schema"."table").
// nullopt when the table or the key column does not exist.
std::optional<KeyColumnType> ReadKeyColumnType(pqxx::transaction_base& transaction,
                                               const std::string& table_sql,
                                               const std::string& key_column);

}  // namespace udmg::db::postgres
