// SQLite's compare-and-swap of a dense batch of integer keys as one range UPDATE: which batches
// take it, and that it writes exactly the rows a per-row compare-and-swap would.
#include "db/sqlite/sqlite_range_cas.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using sqlite::SuitsRangeUpdate;

const ColumnRef kItems{"items", "secret", "id"};

CasWrite Write(int64_t key, std::string expected, std::string replacement) {
  return CasWrite{key, std::move(expected), std::move(replacement)};
}

std::vector<CasWrite> Keys(std::initializer_list<int64_t> keys) {
  std::vector<CasWrite> writes;
  for (int64_t key : keys) writes.push_back(Write(key, "old", "new"));
  return writes;
}

TEST(SuitsRangeUpdateTest, DenseAscendingIntegerKeysOnly) {
  EXPECT_TRUE(SuitsRangeUpdate(Keys({1})));
  EXPECT_TRUE(SuitsRangeUpdate(Keys({1, 2, 3, 4})));
  EXPECT_TRUE(SuitsRangeUpdate(Keys({-3, 0, 5})));  // 8 keys of range for 3 writes: under 4 each
  EXPECT_FALSE(SuitsRangeUpdate({}));
  EXPECT_FALSE(SuitsRangeUpdate(Keys({2, 1})));     // not in key order
  EXPECT_FALSE(SuitsRangeUpdate(Keys({1, 1, 2})));  // a key twice
  EXPECT_FALSE(SuitsRangeUpdate(Keys({1, 100})));   // sparse: the range reads 98 other rows
  std::vector<CasWrite> text = Keys({1, 2});
  text[1].key = std::string("2");
  EXPECT_FALSE(SuitsRangeUpdate(text));
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_FALSE(SuitsRangeUpdate(Keys({kMin, kMax})));  // the span overflows an int64
  EXPECT_TRUE(SuitsRangeUpdate(Keys({kMax - 1, kMax})));
}

class SqliteRangeCasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = MakeSqliteDatabase();
    Result<std::unique_ptr<Store>> store = OpenStore(database_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    database_->Execute("CREATE TABLE items (id INTEGER PRIMARY KEY, secret TEXT)");
    for (int id = 1; id <= 10; ++id) {
      database_->Execute("INSERT INTO items VALUES (" + std::to_string(id) +
                         ", 'udmg:v1:" + std::to_string(id) + "')");
    }
  }

  std::string Secret(int id) {
    return database_->QueryText("SELECT secret FROM items WHERE id = " + std::to_string(id));
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<Store> store_;
};

// Rows 1-10 read; then row 3 is rewritten by someone else, row 5 deleted, row 7 stored as a BLOB
// of the same bytes; the batch leaves out row 8. Only the rows that still hold exactly what was
// read are written; every other row of the range is left as it is.
TEST_F(SqliteRangeCasTest, WritesOnlyTheBatchRowsThatStillHoldWhatWasRead) {
  database_->Execute("UPDATE items SET secret = 'udmg:v2:theirs' WHERE id = 3");
  database_->Execute("DELETE FROM items WHERE id = 5");
  database_->Execute("UPDATE items SET secret = CAST('udmg:v1:7' AS BLOB) WHERE id = 7");
  std::vector<CasWrite> writes;
  for (int id : {1, 2, 3, 4, 5, 6, 7, 9, 10}) {
    writes.push_back(Write(id, "udmg:v1:" + std::to_string(id), "udmg:v2:" + std::to_string(id)));
  }
  writes[1].expected = "udmg:v1:2 ";  // a value read differently: not the one stored
  ASSERT_TRUE(SuitsRangeUpdate(writes));
  ASSERT_OK_AND_ASSIGN(std::vector<CasOutcome> outcomes,
                       store_->CompareAndSwapChecked(kItems, writes));
  using enum CasOutcome;
  EXPECT_EQ(outcomes,
            (std::vector<CasOutcome>{kApplied, kNotApplied, kNotApplied, kApplied, kNotApplied,
                                     kApplied, kNotApplied, kApplied, kApplied}));
  EXPECT_EQ(Secret(1), "udmg:v2:1");
  EXPECT_EQ(Secret(2), "udmg:v1:2");
  EXPECT_EQ(Secret(3), "udmg:v2:theirs");
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM items WHERE id = 5"), "0");
  EXPECT_EQ(database_->QueryText("SELECT typeof(secret) FROM items WHERE id = 7"), "blob");
  EXPECT_EQ(Secret(8), "udmg:v1:8");
  EXPECT_EQ(Secret(9), "udmg:v2:9");
  EXPECT_EQ(Secret(10), "udmg:v2:10");
}

// An empty value and a value of several pages are compared and written byte for byte.
TEST_F(SqliteRangeCasTest, EmptyAndLargeValues) {
  const std::string large(20000, 'x');
  database_->Execute("UPDATE items SET secret = '' WHERE id = 1");
  database_->Execute("UPDATE items SET secret = '" + large + "' WHERE id = 2");
  std::vector<CasWrite> writes{Write(1, "", "udmg:v2:empty"), Write(2, large, large + "y")};
  ASSERT_OK_AND_ASSIGN(std::vector<CasOutcome> outcomes,
                       store_->CompareAndSwapChecked(kItems, writes));
  EXPECT_EQ(outcomes, (std::vector<CasOutcome>{CasOutcome::kApplied, CasOutcome::kApplied}));
  EXPECT_EQ(Secret(1), "udmg:v2:empty");
  EXPECT_EQ(Secret(2), large + "y");
}

// A row the database refuses (a CHECK constraint) fails the whole batch, which writes nothing:
// the caller then writes row by row and names the refused row.
TEST_F(SqliteRangeCasTest, RefusedRowFailsTheBatchAndWritesNothing) {
  database_->Execute(
      "CREATE TABLE guarded (id INTEGER PRIMARY KEY, secret TEXT "
      "CHECK (length(secret) < 12))");
  database_->Execute("INSERT INTO guarded VALUES (1, 'udmg:v1:a'), (2, 'udmg:v1:b')");
  const ColumnRef guarded{"guarded", "secret", "id"};
  std::vector<CasWrite> writes{Write(1, "udmg:v1:a", "udmg:v2:a"),
                               Write(2, "udmg:v1:b", "udmg:v2:far-too-long")};
  EXPECT_STATUS(store_->CompareAndSwapChecked(guarded, writes).status(), kDatabase,
                "CHECK constraint failed");
  EXPECT_EQ(database_->QueryText("SELECT group_concat(secret) FROM guarded"),
            "udmg:v1:a,udmg:v1:b");
}

// With a trigger on the table the batch is written row by row and read back, so a row the
// trigger changed after the write is told (kAltered).
TEST_F(SqliteRangeCasTest, TableWithATriggerTellsAlteredRows) {
  database_->Execute(
      "CREATE TRIGGER shout AFTER UPDATE ON items WHEN new.id = 2 BEGIN "
      "UPDATE items SET secret = upper(new.secret) WHERE id = new.id; END");
  std::vector<CasWrite> writes{Write(1, "udmg:v1:1", "udmg:v2:1"),
                               Write(2, "udmg:v1:2", "udmg:v2:2")};
  ASSERT_OK_AND_ASSIGN(std::vector<CasOutcome> outcomes,
                       store_->CompareAndSwapChecked(kItems, writes));
  EXPECT_EQ(outcomes, (std::vector<CasOutcome>{CasOutcome::kApplied, CasOutcome::kAltered}));
  EXPECT_EQ(Secret(2), "UDMG:V2:2");
}

// The functions serve only the statements the store runs: SQL stored in the database (here a
// trigger) cannot call them.
TEST_F(SqliteRangeCasTest, FunctionsCannotBeCalledFromTheSchema) {
  std::vector<CasWrite> writes{Write(1, "udmg:v1:1", "udmg:v2:1")};
  ASSERT_OK(store_->CompareAndSwapChecked(kItems, writes).status());  // registers them
  database_->Execute(
      "CREATE TRIGGER peek AFTER UPDATE ON items BEGIN "
      "SELECT udmg_cas_replacement(new.id); END");
  writes = {Write(2, "udmg:v1:2", "udmg:v2:2")};
  EXPECT_STATUS(store_->CompareAndSwapChecked(kItems, writes).status(), kDatabase,
                "unsafe use of udmg_cas_replacement");
  EXPECT_EQ(Secret(2), "udmg:v1:2");
}

}  // namespace
}  // namespace udmg::db::testing
