// Store values on every backend: read/write, stale scans with keyset pagination over integer and
// text keys, NULL and plaintext, case-sensitive prefixes, counts, compare-and-swap, demo rows.
#include <set>

#include "db/demo_table.h"
#include "tests/db/cas_scenario.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

class StoreValuesTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    database_->Execute("CREATE TABLE items (id INTEGER PRIMARY KEY, secret TEXT)");
    database_->Execute("CREATE TABLE tokens (name TEXT PRIMARY KEY, value TEXT)");
  }
  void Insert(const ColumnRef& column, const std::string& key_sql, const std::string& value_sql) {
    InsertValue(*database_, column, key_sql, value_sql);
  }
  // Every page of FetchStale (or FetchValues when filter is null), following the last key.
  std::vector<StoredValue> FetchAll(const ColumnRef& column, const StaleFilter* filter,
                                    size_t page_size) {
    std::vector<StoredValue> all;
    std::optional<RowKey> after;
    for (int pages = 0; pages < 1000; ++pages) {
      Result<std::vector<StoredValue>> page =
          filter ? store_->FetchStale(column, *filter, after, page_size)
                 : store_->FetchValues(column, after, page_size);
      EXPECT_TRUE(page.ok()) << page.error().message;
      if (!page.ok()) break;
      EXPECT_LE(page->size(), page_size);
      if (page->empty()) break;
      all.insert(all.end(), page->begin(), page->end());
      after = page->back().key;
    }
    return all;
  }
};

std::vector<RowKey> Keys(const std::vector<StoredValue>& values) {
  std::vector<RowKey> keys;
  for (const StoredValue& value : values) keys.push_back(value.key);
  return keys;
}

TEST_P(StoreValuesTest, ReadAndWriteOneValue) {
  Insert(kItems, "7", "'udmg:v1:abc'");
  Insert(kItems, "8", "NULL");
  ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> value, store_->ReadValue(kItems, int64_t{7}));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->key, RowKey(int64_t{7}));
  EXPECT_EQ(value->value, "udmg:v1:abc");
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kItems, int64_t{8}));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->value, std::nullopt);
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kItems, int64_t{9}));
  EXPECT_FALSE(value.has_value());

  ASSERT_OK(store_->WriteValue(kItems, int64_t{8}, std::string("udmg:v2:new")));
  ASSERT_OK(store_->WriteValue(kItems, int64_t{7}, std::nullopt));
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 8"), "udmg:v2:new");
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 7"), "NULL");
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->WriteValue(kItems, int64_t{9}, std::string("x")), kNotFound, "id = 9");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreValuesTest, TextKeysAndEmptyValues) {
  Insert(kTokens, "'007'", "''");
  ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> value,
                       store_->ReadValue(kTokens, ParseRowKey("007")));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->key, RowKey(std::string("007")));
  EXPECT_EQ(value->value, "");
  ASSERT_OK(store_->WriteValue(kTokens, std::string("007"), std::string("it's \"quoted\"")));
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kTokens, std::string("007")));
  EXPECT_EQ(value->value, "it's \"quoted\"");
}

TEST_P(StoreValuesTest, ValuesOfAMissingTableFailAsDatabaseErrors) {
  EXPECT_STATUS(store_->ReadValue({"gone", "secret", "id"}, int64_t{1}).status(), kDatabase,
                "reading gone.secret");
  EXPECT_STATUS(store_->ReadValue({"items", "secret;", "id"}, int64_t{1}).status(), kBadInput,
                "identifier");
}

// 25 integer keys, so that 9 < 10 (numeric order, not text order), with every kind of value.
TEST_P(StoreValuesTest, FetchStalePaginatesIntegerKeysInNumericOrder) {
  std::vector<RowKey> expected_stale, expected_with_plaintext, expected_values;
  for (int64_t id = -3; id <= 21; ++id) {
    std::string value;
    switch ((id + 3) % 5) {
      case 0:
        value = "'udmg:v1:old'";
        break;
      case 1:
        value = "'udmg:v2:current'";
        break;
      case 2:
        value = "'legacy plaintext'";
        break;
      case 3:
        value = "NULL";
        break;
      case 4:
        value = "'udmg:v10:newer'";
        break;
    }
    Insert(kItems, std::to_string(id), value);
    bool encrypted_stale = value == "'udmg:v1:old'" || value == "'udmg:v10:newer'";
    if (encrypted_stale) expected_stale.push_back(id);
    if (encrypted_stale || value == "'legacy plaintext'") expected_with_plaintext.push_back(id);
    if (value != "NULL") expected_values.push_back(id);
  }
  StaleFilter filter{2, false};
  for (size_t page_size : {1u, 4u, 100u}) {
    EXPECT_EQ(Keys(FetchAll(kItems, &filter, page_size)), expected_stale) << page_size;
  }
  StaleFilter with_plaintext{2, true};
  EXPECT_EQ(Keys(FetchAll(kItems, &with_plaintext, 3)), expected_with_plaintext);
  EXPECT_EQ(Keys(FetchAll(kItems, nullptr, 3)), expected_values);
  ASSERT_OK_AND_ASSIGN(uint64_t stale, store_->CountStale(kItems, filter));
  EXPECT_EQ(stale, expected_stale.size());
  ASSERT_OK_AND_ASSIGN(stale, store_->CountStale(kItems, with_plaintext));
  EXPECT_EQ(stale, expected_with_plaintext.size());

  // "udmg:v1:" is a prefix of nothing but version 1: version 10 is stale for target 1 too.
  StaleFilter target_one{1, false};
  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> page,
                       store_->FetchStale(kItems, target_one, std::nullopt, 100));
  for (const StoredValue& value : page) EXPECT_NE(value.value, "udmg:v1:old");
  EXPECT_EQ(page.size(), 10u);  // five v2 and five v10
}

TEST_P(StoreValuesTest, FetchStalePaginatesTextKeysInTheirOrder) {
  std::vector<std::string> names = {"b", "a", "B", "aa", "10", "9", "z-1", "Z", "_x", "m"};
  for (const std::string& name : names) Insert(kTokens, "'" + name + "'", "'udmg:v1:x'");
  Insert(kTokens, "'done'", "'udmg:v3:x'");
  StaleFilter filter{3, false};
  std::vector<StoredValue> all = FetchAll(kTokens, &filter, 3);
  ASSERT_EQ(all.size(), names.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(std::holds_alternative<std::string>(all[i].key));
    seen.insert(std::get<std::string>(all[i].key));
    if (i > 0) {
      EXPECT_LT(std::get<std::string>(all[i - 1].key), std::get<std::string>(all[i].key));
    }
  }
  EXPECT_EQ(seen, std::set<std::string>(names.begin(), names.end()));
}

TEST_P(StoreValuesTest, PrefixMatchingIsCaseSensitive) {
  Insert(kItems, "1", "'udmg:v1:ok'");
  Insert(kItems, "2", "'UDMG:v1:upper magic'");    // not an envelope: legacy plaintext
  Insert(kItems, "3", "'udmg:V1:upper version'");  // an envelope with a bad version: stale
  Insert(kItems, "4", "'Udmg:v1:mixed'");
  StaleFilter filter{1, false};
  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> stale,
                       store_->FetchStale(kItems, filter, std::nullopt, 10));
  EXPECT_EQ(Keys(stale), (std::vector<RowKey>{int64_t{3}}));
  filter.include_plaintext = true;
  ASSERT_OK_AND_ASSIGN(stale, store_->FetchStale(kItems, filter, std::nullopt, 10));
  EXPECT_EQ(Keys(stale), (std::vector<RowKey>{int64_t{2}, int64_t{3}, int64_t{4}}));
}

TEST_P(StoreValuesTest, CountValuesByVersionPlaintextMalformedAndNull) {
  int64_t id = 0;
  auto add = [&](const std::string& value_sql, int times) {
    for (int i = 0; i < times; ++i) Insert(kItems, std::to_string(++id), value_sql);
  };
  add("'udmg:v1:a'", 2);
  auto e_acute = [](int times) {  // two bytes each in UTF-8
    std::string text;
    for (int i = 0; i < times; ++i) text += "\u00e9";
    return text;
  };
  add("'udmg:v1:" + e_acute(10) + "'", 1);
  add("'udmg:v2:b'", 2);
  add("'udmg:v4294967295:c'", 1);
  add("'plain'", 2);
  add("'UDMG:v1:a'", 1);
  add("''", 1);
  add("NULL", 2);
  for (const char* malformed :
       {"'udmg:'", "'udmg:v0:x'", "'udmg:v01:x'", "'udmg:vx:'", "'udmg:v4294967296:x'", "'udmg:v1'",
        "'udmg:V1:x'", "'udmg:v99999999999999:x'", "'udmg:v-1:x'"}) {
    add(malformed, 1);
  }
  add("'udmg:v" + e_acute(1) + "1:x'", 1);  // malformed
  add("'udmg:" + e_acute(14) + ":x'", 1);  // no second colon within the label's reach
  ASSERT_OK_AND_ASSIGN(ValueCounts counts, store_->CountValues(kItems));
  EXPECT_EQ(counts.by_version, (std::map<uint32_t, uint64_t>{{1, 3}, {2, 2}, {4294967295u, 1}}));
  EXPECT_EQ(counts.plaintext, 4u);
  EXPECT_EQ(counts.malformed, 11u);
  EXPECT_EQ(counts.null_values, 2u);
}

TEST_P(StoreValuesTest, CompareAndSwapAppliesOnlyWhereTheValueIsUnchanged) {
  PlantItemsOneRewrittenSinceRead(*database_);
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied,
                       store_->CompareAndSwap(kItems, WritesOverPlantedItems()));
  EXPECT_EQ(applied, (std::vector<bool>{true, false, false, false}));
  ExpectOnlyItemOneWritten(*database_);

  Insert(kTokens, "'k'", "'udmg:v1:k'");
  ASSERT_OK_AND_ASSIGN(
      applied, store_->CompareAndSwap(
                   kTokens, std::vector<CasWrite>{{std::string("k"), "udmg:v1:k", "udmg:v2:k"}}));
  EXPECT_EQ(applied, (std::vector<bool>{true}));
  ASSERT_OK_AND_ASSIGN(applied, store_->CompareAndSwap(kTokens, {}));
  EXPECT_TRUE(applied.empty());
}

TEST_P(StoreValuesTest, DemoTableAndRows) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DemoTable> demo, OpenDemoTable(database_->url()));
  ASSERT_OK(demo->Create());
  ASSERT_OK(demo->Create());
  std::vector<DemoRow> rows;
  for (int64_t id = 1; id <= 1000; ++id) {
    rows.push_back({id, "user" + std::to_string(id), "udmg:v1:" + std::to_string(id)});
  }
  ASSERT_OK(demo->Insert(rows));
  ColumnRef secret{"credentials", "secret", "id"};
  ASSERT_OK(store_->AddColumn(secret));
  ASSERT_OK_AND_ASSIGN(ValueCounts counts, store_->CountValues(secret));
  EXPECT_EQ(counts.by_version, (std::map<uint32_t, uint64_t>{{1, 1000}}));
  EXPECT_EQ(database_->QueryText("SELECT name FROM credentials WHERE id = 500"), "user500");
  // A failing batch (duplicate id) leaves none of its rows behind.
  std::vector<DemoRow> clash = {{1001, "new", "x"}, {1, "dup", "y"}};
  EXPECT_STATUS(demo->Insert(clash), kDatabase, "inserting demo rows");
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM credentials"), "1000");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreValuesTest);

}  // namespace
}  // namespace udmg::db::testing
