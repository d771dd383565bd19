// The tables, rows and writes that the compare-and-swap tests share: the Store contract on every
// backend (store_values_test.cc) and each batch method of PostgreSQL
// (postgres/postgres_cas_test.cc) must agree on what a write over a changed, NULL or missing row
// does.
#pragma once

#include <string>
#include <vector>

#include "db/store.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {

// Each test creates these tables with the column types of its backend.
inline const ColumnRef kItems{"items", "secret", "id"};
inline const ColumnRef kTokens{"tokens", "value", "name"};

// Inserts one row; the key and the value are SQL (a number, quoted text, NULL).
inline void InsertValue(TestDatabase& database, const ColumnRef& column, const std::string& key_sql,
                        const std::string& value_sql) {
  database.Execute("INSERT INTO " + column.table + " (" + column.key_column + ", " + column.column +
                   ") VALUES (" + key_sql + ", " + value_sql + ")");
}

// Items 1 and 2 as WritesOverPlantedItems expects them, 3 NULL; then row 2 is rewritten by someone
// else after it was read.
inline void PlantItemsOneRewrittenSinceRead(TestDatabase& database) {
  InsertValue(database, kItems, "1", "'udmg:v1:one'");
  InsertValue(database, kItems, "2", "'udmg:v1:two'");
  InsertValue(database, kItems, "3", "NULL");
  database.Execute("UPDATE items SET secret = 'udmg:v2:theirs' WHERE id = 2");
}

// Only the write to item 1 may apply: 2 was rewritten, 3 is NULL, 4 does not exist.
inline std::vector<CasWrite> WritesOverPlantedItems() {
  return {
      {int64_t{1}, "udmg:v1:one", "udmg:v2:one"},
      {int64_t{2}, "udmg:v1:two", "udmg:v2:mine"},
      {int64_t{3}, "udmg:v1:three", "udmg:v2:three"},
      {int64_t{4}, "udmg:v1:four", "udmg:v2:four"},
  };
}

// After WritesOverPlantedItems: item 1 written, the others as they were, no row added.
inline void ExpectOnlyItemOneWritten(TestDatabase& database) {
  EXPECT_EQ(database.QueryText("SELECT secret FROM items WHERE id = 1"), "udmg:v2:one");
  EXPECT_EQ(database.QueryText("SELECT secret FROM items WHERE id = 2"), "udmg:v2:theirs");
  EXPECT_EQ(database.QueryText("SELECT secret FROM items WHERE id = 3"), "NULL");
  EXPECT_EQ(database.QueryText("SELECT count(*) FROM items"), "3");
}

}  // namespace udmg::db::testing
