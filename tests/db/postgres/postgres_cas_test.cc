// Every batched compare-and-swap method of PgStore on a real server (unnest, values, copy,
// row-by-row): applied only where unchanged, hostile text, repeated and impossible keys, large
// batches. The Store contract itself (values, pagination, counts, jobs) runs on both backends in
// tests/db.
#include <algorithm>

#include "tests/db/cas_scenario.h"
#include "tests/db/postgres/pg_store_fixture.h"

namespace udmg::db::testing {
namespace {

using postgres::CasMethod;

class PgCasFixture : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    database_->Execute("CREATE TABLE items (id bigint PRIMARY KEY, secret text)");
    database_->Execute("CREATE TABLE tokens (name text PRIMARY KEY, value text)");
  }
  void Insert(const ColumnRef& column, const std::string& key_sql, const std::string& value_sql) {
    InsertValue(*database_, column, key_sql, value_sql);
  }
};

class PgCasTest : public PgCasFixture, public ::testing::WithParamInterface<CasMethod> {
 protected:
  // Whether each row was written (CompareAndSwap's answer) with the method under test.
  Result<std::vector<bool>> Swap(const ColumnRef& column, std::span<const CasWrite> writes) {
    UDMG_ASSIGN_OR_RETURN(std::vector<CasOutcome> outcomes,
                          store_->CompareAndSwapWith(GetParam(), column, writes));
    return WrittenRows(outcomes);
  }
};

TEST_P(PgCasTest, AppliesOnlyWhereTheValueIsUnchanged) {
  PlantItemsOneRewrittenSinceRead(*database_);
  std::vector<CasWrite> writes = WritesOverPlantedItems();
  writes.push_back({std::string("not a number"), "x", "y"});  // a key the bigint column refuses
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied, Swap(kItems, writes));
  EXPECT_EQ(applied, (std::vector<bool>{true, false, false, false, false}));
  ExpectOnlyItemOneWritten(*database_);
  ASSERT_OK_AND_ASSIGN(applied, Swap(kItems, {}));
  EXPECT_TRUE(applied.empty());
}

// Keys and values that need quoting in an array literal, a VALUES list or COPY text.
TEST_P(PgCasTest, HostileTextSurvivesEveryMethod) {
  const std::vector<std::string> hostile = {
      "", "NULL", "\\N", "a,b", "{x}", "\"q\"", "back\\slash", "tab\there", "new\nline",
      "cr\rret", "it's", "ünïcødé", std::string(5000, 'z')};
  std::vector<CasWrite> writes;
  for (size_t i = 0; i < hostile.size(); ++i) {
    std::string key = "k" + hostile[i].substr(0, 40) + std::to_string(i);
    database_->Execute("INSERT INTO tokens (name, value) VALUES (" +
                       std::string("$q$") + key + "$q$, $q$" + hostile[i] + "$q$)");
    writes.push_back({key, hostile[i], hostile[(i + 1) % hostile.size()] + "!"});
  }
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied, Swap(kTokens, writes));
  EXPECT_EQ(applied, std::vector<bool>(writes.size(), true));
  for (const CasWrite& write : writes) {
    ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> value, store_->ReadValue(kTokens, write.key));
    ASSERT_TRUE(value.has_value()) << RowKeyText(write.key);
    EXPECT_EQ(value->value, write.replacement) << RowKeyText(write.key);
  }
}

// The same key twice in one batch: applied in order, the second sees the first.
TEST_P(PgCasTest, RepeatedKeysApplyInOrder) {
  Insert(kItems, "1", "'a'");
  std::vector<CasWrite> writes = {{int64_t{1}, "a", "b"}, {int64_t{1}, "b", "c"},
                                  {int64_t{1}, "a", "x"}};
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied, Swap(kItems, writes));
  EXPECT_EQ(applied, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 1"), "c");
}

TEST_P(PgCasTest, ThousandsOfRowsInOneBatch) {
  constexpr int kRows = 5000;
  database_->Execute("INSERT INTO items SELECT g, 'udmg:v1:' || g FROM generate_series(1, " +
                     std::to_string(kRows) + ") AS g");
  std::vector<CasWrite> writes;
  for (int64_t id = 1; id <= kRows; ++id) {
    // Every seventh expected value is wrong: those rows must stay as they are.
    std::string expected = "udmg:v1:" + std::to_string(id) + (id % 7 == 0 ? "x" : "");
    writes.push_back({id, expected, "udmg:v2:" + std::to_string(id)});
  }
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied, Swap(kItems, writes));
  for (int64_t id = 1; id <= kRows; ++id) EXPECT_EQ(applied[id - 1], id % 7 != 0) << id;
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM items WHERE secret LIKE 'udmg:v2:%'"),
            std::to_string(kRows - kRows / 7));
}

// A BEFORE UPDATE trigger that rewrites the new value: the row was written but does not hold
// what was written, and every method tells it in the same statement.
TEST_P(PgCasTest, TellsARowATriggerRewrote) {
  Insert(kItems, "1", "'udmg:v1:one'");
  Insert(kItems, "2", "'udmg:v1:two'");
  Insert(kItems, "3", "'udmg:v1:three'");
  database_->Execute(
      "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "IF NEW.id = 2 THEN NEW.secret := upper(NEW.secret); END IF; RETURN NEW; END $$");
  database_->Execute(
      "CREATE TRIGGER shout BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION shout()");
  std::vector<CasWrite> writes = {{int64_t{1}, "udmg:v1:one", "udmg:v2:one"},
                                  {int64_t{2}, "udmg:v1:two", "udmg:v2:two"},
                                  {int64_t{3}, "stale", "udmg:v2:three"}};
  ASSERT_OK_AND_ASSIGN(std::vector<CasOutcome> outcomes,
                       store_->CompareAndSwapWith(GetParam(), kItems, writes));
  EXPECT_EQ(outcomes, (std::vector<CasOutcome>{CasOutcome::kApplied, CasOutcome::kAltered,
                                               CasOutcome::kNotApplied}));
  ASSERT_OK_AND_ASSIGN(RowWriteResult one, store_->CompareAndSwapOne(
                                               kItems, {int64_t{2}, "UDMG:V2:TWO", "udmg:v3:two"}));
  EXPECT_TRUE(one.applied);
  EXPECT_TRUE(one.altered);
}

INSTANTIATE_TEST_SUITE_P(Methods, PgCasTest,
                         ::testing::Values(CasMethod::kUnnest, CasMethod::kValues, CasMethod::kCopy,
                                           CasMethod::kRowByRow),
                         [](const ::testing::TestParamInfo<CasMethod>& info) {
                           std::string name(postgres::CasMethodName(info.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

}  // namespace
}  // namespace udmg::db::testing
