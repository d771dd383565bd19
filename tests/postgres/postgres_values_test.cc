// PgStore registered columns, values and jobs on a real server: registration checks, reads and
// writes, keyset pagination over integer and text keys, case-sensitive prefixes, counts, every
// compare-and-swap method (with hostile values, repeated and impossible keys), demo rows, jobs.
#include <set>

#include "tests/postgres/pg_store_fixture.h"

namespace udmg::db::testing {
namespace {

using postgres::CasMethod;

const ColumnRef kItems{"items", "secret", "id"};
const ColumnRef kTokens{"tokens", "value", "name"};

class PgValuesTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    database_->Execute("CREATE TABLE items (id bigint PRIMARY KEY, secret text)");
    database_->Execute("CREATE TABLE tokens (name text PRIMARY KEY, value text)");
  }
  void Insert(const ColumnRef& column, const std::string& key_sql, const std::string& value_sql) {
    database_->Execute("INSERT INTO " + column.table + " (" + column.key_column + ", " +
                       column.column + ") VALUES (" + key_sql + ", " + value_sql + ")");
  }
  // Every page of FetchStale (or FetchValues when filter is null), following the last key.
  std::vector<RowKey> FetchAllKeys(const ColumnRef& column, const StaleFilter* filter,
                                   size_t page_size) {
    std::vector<RowKey> keys;
    std::optional<RowKey> after;
    for (int pages = 0; pages < 1000; ++pages) {
      Result<std::vector<StoredValue>> page =
          filter ? store_->FetchStale(column, *filter, after, page_size)
                 : store_->FetchValues(column, after, page_size);
      EXPECT_TRUE(page.ok()) << page.error().message;
      if (!page.ok() || page->empty()) break;
      EXPECT_LE(page->size(), page_size);
      for (const StoredValue& value : *page) keys.push_back(value.key);
      after = page->back().key;
    }
    return keys;
  }
};

TEST_F(PgValuesTest, RegisterFindListRemove) {
  database_->Execute("CREATE TABLE plain (note text, value text)");
  database_->Execute("CREATE TABLE \"Mixed\" (id integer PRIMARY KEY, secret text)");
  ASSERT_OK(store_->AddColumn(kTokens));
  ASSERT_OK(store_->AddColumn(kItems));
  EXPECT_STATUS(store_->AddColumn(kItems), kConflict, "already registered");
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, OpenAnother()->ListColumns());
  EXPECT_EQ(columns, (std::vector<ColumnRef>{kItems, kTokens}));
  ASSERT_OK_AND_ASSIGN(ColumnRef found, store_->FindColumn("tokens", "value"));
  EXPECT_EQ(found, kTokens);
  ASSERT_OK(store_->RemoveColumn("tokens", "value"));
  EXPECT_STATUS(store_->FindColumn("tokens", "value").status(), kNotFound, "'tokens.value'");
  EXPECT_STATUS(store_->RemoveColumn("tokens", "value"), kNotFound, "is not registered");

  std::string before = database_->Dump();
  EXPECT_STATUS(store_->AddColumn({"nope", "secret", "id"}), kNotFound,
                "table 'nope' does not exist");
  EXPECT_STATUS(store_->AddColumn({"mixed", "secret", "id"}), kNotFound,
                "table 'mixed' does not exist");
  EXPECT_STATUS(store_->AddColumn({"items", "nope", "id"}), kNotFound,
                "column 'items.nope' does not exist");
  EXPECT_STATUS(store_->AddColumn({"items", "secret", "nope"}), kNotFound,
                "key column 'items.nope' does not exist");
  EXPECT_STATUS(store_->AddColumn({"plain", "value", "note"}), kBadInput, "not unique");
  EXPECT_STATUS(store_->AddColumn({"items; DROP TABLE items", "secret", "id"}), kBadInput,
                "not a plain SQL identifier");
  EXPECT_STATUS(store_->AddColumn({"udmg_meta", "keyring_id", "singleton"}), kBadInput,
                "udmg-server itself");
  EXPECT_EQ(database_->Dump(), before);
  database_->Execute("CREATE UNIQUE INDEX plain_note ON plain (note)");
  ASSERT_OK(store_->AddColumn({"plain", "value", "note"}));
  ASSERT_OK(store_->AddColumn({"Mixed", "secret", "id"}));
}

TEST_F(PgValuesTest, ReadAndWriteValues) {
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
  // A text key on an integer column: "007" is 7 (as on SQLite); "abc" matches no row.
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kItems, std::string("007")));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->key, RowKey(int64_t{7}));
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kItems, std::string("abc")));
  EXPECT_FALSE(value.has_value());

  ASSERT_OK(store_->WriteValue(kItems, int64_t{8}, std::string("udmg:v2:new")));
  ASSERT_OK(store_->WriteValue(kItems, int64_t{7}, std::nullopt));
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 8"), "udmg:v2:new");
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 7"), "NULL");
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->WriteValue(kItems, int64_t{9}, std::string("x")), kNotFound, "id = 9");
  EXPECT_STATUS(store_->WriteValue(kItems, std::string("abc"), std::string("x")), kNotFound,
                "id = abc");
  EXPECT_EQ(database_->Dump(), before);

  Insert(kTokens, "'007'", "''");
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kTokens, ParseRowKey("007")));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->key, RowKey(std::string("007")));
  EXPECT_EQ(value->value, "");
  ASSERT_OK(store_->WriteValue(kTokens, std::string("007"), std::string("it's \"quoted\" \\")));
  ASSERT_OK_AND_ASSIGN(value, store_->ReadValue(kTokens, std::string("007")));
  EXPECT_EQ(value->value, "it's \"quoted\" \\");

  EXPECT_STATUS(store_->ReadValue({"gone", "secret", "id"}, int64_t{1}).status(), kDatabase,
                "reading gone.secret");
  EXPECT_STATUS(store_->ReadValue({"items", "secret;", "id"}, int64_t{1}).status(), kBadInput,
                "identifier");
}

// 25 integer keys, so that 9 < 10 (numeric order, not text order), with every kind of value.
TEST_F(PgValuesTest, FetchStalePaginatesIntegerKeysInNumericOrder) {
  std::vector<RowKey> expected_stale, expected_with_plaintext, expected_values;
  const char* kinds[] = {"'udmg:v1:old'", "'udmg:v2:current'", "'legacy plaintext'", "NULL",
                         "'udmg:v10:newer'"};
  for (int64_t id = -3; id <= 21; ++id) {
    std::string value = kinds[(id + 3) % 5];
    Insert(kItems, std::to_string(id), value);
    bool encrypted_stale = value == "'udmg:v1:old'" || value == "'udmg:v10:newer'";
    if (encrypted_stale) expected_stale.push_back(id);
    if (encrypted_stale || value == "'legacy plaintext'") expected_with_plaintext.push_back(id);
    if (value != "NULL") expected_values.push_back(id);
  }
  StaleFilter filter{2, false};
  for (size_t page_size : {1u, 4u, 100u}) {
    EXPECT_EQ(FetchAllKeys(kItems, &filter, page_size), expected_stale) << page_size;
  }
  StaleFilter with_plaintext{2, true};
  EXPECT_EQ(FetchAllKeys(kItems, &with_plaintext, 3), expected_with_plaintext);
  EXPECT_EQ(FetchAllKeys(kItems, nullptr, 3), expected_values);
  ASSERT_OK_AND_ASSIGN(uint64_t stale, store_->CountStale(kItems, filter));
  EXPECT_EQ(stale, expected_stale.size());
  ASSERT_OK_AND_ASSIGN(stale, store_->CountStale(kItems, with_plaintext));
  EXPECT_EQ(stale, expected_with_plaintext.size());
  // "udmg:v1:" is a prefix of nothing but version 1: version 10 is stale for target 1 too.
  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> page,
                       store_->FetchStale(kItems, StaleFilter{1, false}, std::nullopt, 100));
  EXPECT_EQ(page.size(), 10u);
  for (const StoredValue& value : page) EXPECT_NE(value.value, "udmg:v1:old");
}

TEST_F(PgValuesTest, FetchStalePaginatesTextKeysInTheirOrder) {
  std::vector<std::string> names = {"b", "a", "B", "aa", "10", "9", "z-1", "Z", "_x", "m"};
  for (const std::string& name : names) Insert(kTokens, "'" + name + "'", "'udmg:v1:x'");
  Insert(kTokens, "'done'", "'udmg:v3:x'");
  StaleFilter filter{3, false};
  std::vector<RowKey> keys = FetchAllKeys(kTokens, &filter, 3);
  ASSERT_EQ(keys.size(), names.size());
  // In the column's own collation order, every stale key once.
  std::string listed;
  for (const RowKey& key : keys) {
    ASSERT_TRUE(std::holds_alternative<std::string>(key));
    listed += (listed.empty() ? "" : ",") + std::get<std::string>(key);
  }
  EXPECT_EQ(listed, database_->QueryText("SELECT string_agg(name, ',' ORDER BY name) FROM tokens "
                                         "WHERE value <> 'udmg:v3:x'"));
  EXPECT_EQ(keys.size(), std::set<RowKey>(keys.begin(), keys.end()).size());
}

TEST_F(PgValuesTest, PrefixMatchingIsCaseSensitiveAndLiteral) {
  Insert(kItems, "1", "'udmg:v1:ok'");
  Insert(kItems, "2", "'UDMG:v1:upper magic'");    // not an envelope: legacy plaintext
  Insert(kItems, "3", "'udmg:V1:upper version'");  // an envelope with a bad version: stale
  Insert(kItems, "4", "'Udmg:v1:mixed'");
  Insert(kItems, "5", "'udmg_v1:underscore'");  // LIKE's '_' would have matched ':'
  StaleFilter filter{1, false};
  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> stale,
                       store_->FetchStale(kItems, filter, std::nullopt, 10));
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].key, RowKey(int64_t{3}));
  filter.include_plaintext = true;
  ASSERT_OK_AND_ASSIGN(stale, store_->FetchStale(kItems, filter, std::nullopt, 10));
  EXPECT_EQ(stale.size(), 4u);
}

TEST_F(PgValuesTest, CountValuesByVersionPlaintextMalformedAndNull) {
  int64_t id = 0;
  auto add = [&](const std::string& value_sql, int times) {
    for (int i = 0; i < times; ++i) Insert(kItems, std::to_string(++id), value_sql);
  };
  add("'udmg:v1:a'", 3);
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
  ASSERT_OK_AND_ASSIGN(ValueCounts counts, store_->CountValues(kItems));
  EXPECT_EQ(counts.by_version, (std::map<uint32_t, uint64_t>{{1, 3}, {2, 2}, {4294967295u, 1}}));
  EXPECT_EQ(counts.plaintext, 4u);
  EXPECT_EQ(counts.malformed, 9u);
  EXPECT_EQ(counts.null_values, 2u);
}

class PgCasTest : public PgValuesTest, public ::testing::WithParamInterface<CasMethod> {};

TEST_P(PgCasTest, AppliesOnlyWhereTheValueIsUnchanged) {
  Insert(kItems, "1", "'udmg:v1:one'");
  Insert(kItems, "2", "'udmg:v1:two'");
  Insert(kItems, "3", "NULL");
  database_->Execute("UPDATE items SET secret = 'udmg:v2:theirs' WHERE id = 2");
  std::vector<CasWrite> writes = {
      {int64_t{1}, "udmg:v1:one", "udmg:v2:one"},
      {int64_t{2}, "udmg:v1:two", "udmg:v2:mine"},
      {int64_t{3}, "udmg:v1:three", "udmg:v2:three"},
      {int64_t{4}, "udmg:v1:four", "udmg:v2:four"},
      {std::string("not a number"), "x", "y"},
  };
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied,
                       store_->CompareAndSwapWith(GetParam(), kItems, writes));
  EXPECT_EQ(applied, (std::vector<bool>{true, false, false, false, false}));
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 1"), "udmg:v2:one");
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 2"), "udmg:v2:theirs");
  EXPECT_EQ(database_->QueryText("SELECT secret FROM items WHERE id = 3"), "NULL");
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM items"), "3");
  ASSERT_OK_AND_ASSIGN(applied, store_->CompareAndSwapWith(GetParam(), kItems, {}));
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
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied,
                       store_->CompareAndSwapWith(GetParam(), kTokens, writes));
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
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied,
                       store_->CompareAndSwapWith(GetParam(), kItems, writes));
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
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied,
                       store_->CompareAndSwapWith(GetParam(), kItems, writes));
  for (int64_t id = 1; id <= kRows; ++id) EXPECT_EQ(applied[id - 1], id % 7 != 0) << id;
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM items WHERE secret LIKE 'udmg:v2:%'"),
            std::to_string(kRows - kRows / 7));
}

INSTANTIATE_TEST_SUITE_P(Methods, PgCasTest,
                         ::testing::Values(CasMethod::kUnnest, CasMethod::kValues, CasMethod::kCopy,
                                           CasMethod::kRowByRow),
                         [](const ::testing::TestParamInfo<CasMethod>& info) {
                           std::string name(postgres::CasMethodName(info.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST_F(PgValuesTest, DemoTableAndRows) {
  ASSERT_OK(store_->CreateDemoTable());
  ASSERT_OK(store_->CreateDemoTable());
  std::vector<DemoRow> rows;
  for (int64_t id = 1; id <= 1000; ++id) {
    rows.push_back({id, "user" + std::to_string(id), "udmg:v1:" + std::to_string(id)});
  }
  ASSERT_OK(store_->InsertDemoRows(rows));
  ColumnRef secret{"credentials", "secret", "id"};
  ASSERT_OK(store_->AddColumn(secret));
  ASSERT_OK_AND_ASSIGN(ValueCounts counts, store_->CountValues(secret));
  EXPECT_EQ(counts.by_version, (std::map<uint32_t, uint64_t>{{1, 1000}}));
  EXPECT_EQ(database_->QueryText("SELECT name FROM credentials WHERE id = 500"), "user500");
  std::vector<DemoRow> clash = {{1001, "new", "x"}, {1, "dup", "y"}};
  EXPECT_STATUS(store_->InsertDemoRows(clash), kDatabase, "inserting demo rows");
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM credentials"), "1000");
}

using PgJobsTest = PgStoreTest;

TEST_F(PgJobsTest, CreateCheckpointStateAndFailures) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 3, {kItems, kTokens}));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, OpenAnother()->LoadJob(id));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->kind, "reencrypt");
  EXPECT_EQ(job->state, "running");
  EXPECT_EQ(job->target_version, 3u);
  EXPECT_GT(job->created_at, 0);
  ASSERT_EQ(job->columns.size(), 2u);
  EXPECT_EQ(job->columns[0].column, kItems);
  EXPECT_FALSE(job->columns[0].checkpoint.has_value());
  ASSERT_OK_AND_ASSIGN(job, store_->LoadJob(id + 100));
  EXPECT_FALSE(job.has_value());

  ASSERT_OK(store_->SaveCheckpoint(id, kItems, RowKey(int64_t{42}), 10, 1, 2, false));
  ASSERT_OK(store_->SaveCheckpoint(id, kTokens, RowKey(std::string("42")), 5, 0, 0, false));
  ASSERT_OK(store_->SaveCheckpoint(id, kItems, RowKey(int64_t{-7000000000}), 3, 0, 1, true));
  ASSERT_OK(store_->SaveCheckpoint(id, kItems, std::nullopt, 1, 0, 0, false));
  ASSERT_OK_AND_ASSIGN(job, store_->LoadJob(id));
  EXPECT_EQ(job->columns[0].checkpoint, RowKey(int64_t{-7000000000}));
  EXPECT_EQ(job->columns[0].migrated, 14u);
  EXPECT_EQ(job->columns[0].conflicts, 1u);
  EXPECT_EQ(job->columns[0].failed, 3u);
  EXPECT_TRUE(job->columns[0].scanned);
  EXPECT_EQ(job->columns[1].checkpoint, RowKey(std::string("42")));
  EXPECT_FALSE(job->columns[1].scanned);
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->SaveCheckpoint(id, {"other", "c", "id"}, RowKey(int64_t{1}), 1, 0, 0,
                                       false),
                kNotFound, "other.c");
  EXPECT_STATUS(store_->SetJobState(id + 100, "done"), kNotFound, "does not exist");
  EXPECT_EQ(database_->Dump(), before);

  ASSERT_OK_AND_ASSIGN(int64_t sweep, store_->CreateJob("sweep", 3, {kItems}));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> unfinished, store_->FindUnfinishedJob("reencrypt"));
  ASSERT_TRUE(unfinished.has_value());
  EXPECT_EQ(unfinished->id, id);
  ASSERT_OK(store_->SetJobState(id, "done"));
  ASSERT_OK_AND_ASSIGN(unfinished, store_->FindUnfinishedJob("reencrypt"));
  EXPECT_FALSE(unfinished.has_value());
  ASSERT_OK_AND_ASSIGN(unfinished, store_->FindUnfinishedJob("sweep"));
  EXPECT_EQ(unfinished->id, sweep);
  EXPECT_STATUS(store_->SetJobState(sweep, "paused"), kInternal, "not one of");

  ASSERT_OK(store_->RecordFailure({id, kItems, int64_t{5}, 2, "decryption_failed", 0}));
  ASSERT_OK(store_->RecordFailure({id, kTokens, std::string("5"), 0, "malformed", 77}));
  ASSERT_OK(store_->RecordFailure({id, kItems, int64_t{5}, 3, "unknown_version", 0}));
  ASSERT_OK_AND_ASSIGN(std::vector<FailureRecord> failures, store_->ListFailures(id));
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].key, RowKey(int64_t{5}));
  EXPECT_EQ(failures[0].version, 3u);
  EXPECT_EQ(failures[0].error_class, "unknown_version");
  EXPECT_EQ(failures[1].key, RowKey(std::string("5")));
  EXPECT_EQ(failures[1].recorded_at, 77);
}

}  // namespace
}  // namespace udmg::db::testing
