// Row binding per registered column on every backend (docs/security.md, "Binding values to their
// row"): migration 4, SetColumnBinding (bound_since, idempotence, revision, refusals, the keyring
// lock), and the stale predicate and value counts of the bound envelope form "udmg:b<N>:".
#include <chrono>
#include <thread>

#include "db/postgres/postgres_store.h"
#include "tests/db/forwarding_store.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

const ColumnRef kSecrets{"credentials", "secret", "id"};

ColumnRef Bound(ColumnRef column, uint32_t since) {
  column.bound_since = since;
  return column;
}

std::vector<RowKey> Keys(const std::vector<StoredValue>& values) {
  std::vector<RowKey> keys;
  for (const StoredValue& value : values) keys.push_back(value.key);
  return keys;
}

class StoreBindingTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    database_->Execute("CREATE TABLE credentials (id INTEGER PRIMARY KEY, name TEXT, secret TEXT)");
    ASSERT_OK(store_->AddColumn(kSecrets));
  }
  void WriteKeyring(uint32_t masters) {
    ASSERT_OK(store_->UpdateKeyring(
        [masters](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
          return OpaqueKeyring(masters);
        }));
  }
  void Insert(int64_t id, const std::string& value_sql) {
    database_->Execute("INSERT INTO credentials (id, secret) VALUES (" + std::to_string(id) +
                       ", " + value_sql + ")");
  }
  std::string StoredBoundSince() {
    return database_->QueryText(
        "SELECT bound_since FROM udmg_encrypted_columns WHERE table_name = 'credentials' AND "
        "column_name = 'secret'");
  }
  int64_t Revision() {
    Result<int64_t> revision = store_->KeyringRevision();
    EXPECT_TRUE(revision.ok()) << revision.error().message;
    return revision.ok() ? *revision : -1;
  }
};

// A database at schema version 3 (before row binding) with a registered column: migration 4 adds
// bound_since and leaves the column registered and unbound.
TEST_P(StoreBindingTest, MigrationFourKeepsRegisteredColumnsUnbound) {
  // Back to version 3: migrations 5 (schema_name), 6 (job lock waits), 7 (audit trail) and 8
  // (key policy) undone too.
  database_->Execute("DROP TABLE udmg_policy");
  database_->Execute("DROP TABLE udmg_audit");
  database_->Execute("ALTER TABLE udmg_jobs DROP COLUMN waiting_for");
  database_->Execute("ALTER TABLE udmg_jobs DROP COLUMN waiting_since");
  database_->Execute("ALTER TABLE udmg_encrypted_columns DROP COLUMN schema_name");
  database_->Execute("ALTER TABLE udmg_encrypted_columns DROP COLUMN bound_since");
  database_->Execute("DELETE FROM udmg_schema_migrations WHERE version >= 4");
  ASSERT_EQ(database_->QueryText("SELECT max(version) FROM udmg_schema_migrations"), "3");
  ASSERT_NE(database_->TryExecute("SELECT bound_since FROM udmg_encrypted_columns"), "");

  std::unique_ptr<Store> upgraded = OpenAnother();
  ASSERT_NE(upgraded, nullptr);
  ASSERT_OK(upgraded->Migrate());
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM udmg_schema_migrations WHERE version = 4"),
            "1");
  EXPECT_EQ(StoredBoundSince(), "NULL");
  // Migration 5 resolves the schema of a column registered before it (PostgreSQL; SQLite has one).
  EXPECT_EQ(database_->QueryText("SELECT schema_name FROM udmg_encrypted_columns"),
            GetParam().name == "sqlite" ? "NULL"
                                        : database_->QueryText("SELECT current_schema()"));
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, upgraded->ListColumns());
  ASSERT_EQ(columns, std::vector<ColumnRef>{kSecrets});
  EXPECT_EQ(columns[0].bound_since, std::nullopt);
  ASSERT_OK_AND_ASSIGN(ColumnRef found, upgraded->FindColumn("credentials", "secret"));
  EXPECT_EQ(found.key_column, "id");
  EXPECT_FALSE(found.bound());
  // bound_since names a master version: never 0 or negative.
  EXPECT_NE(database_->TryExecute("UPDATE udmg_encrypted_columns SET bound_since = 0"), "");
  EXPECT_EQ(StoredBoundSince(), "NULL");
}

TEST_P(StoreBindingTest, NewColumnsAreRegisteredUnbound) {
  EXPECT_EQ(StoredBoundSince(), "NULL");
  ASSERT_OK_AND_ASSIGN(ColumnRef found, store_->FindColumn("credentials", "secret"));
  EXPECT_FALSE(found.bound());
}

TEST_P(StoreBindingTest, BindSetsNewestMasterPlusOneAndBumpsTheRevision) {
  WriteKeyring(3);
  int64_t before = Revision();
  ASSERT_OK_AND_ASSIGN(ColumnRef bound, store_->SetColumnBinding("credentials", "secret", true));
  EXPECT_EQ(bound, kSecrets);
  EXPECT_EQ(bound.bound_since, 4u);
  EXPECT_EQ(StoredBoundSince(), "4");
  EXPECT_EQ(Revision(), before + 1);

  // Every connection reads the binding back.
  std::unique_ptr<Store> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(ColumnRef found, other->FindColumn("credentials", "secret"));
  EXPECT_EQ(found.bound_since, 4u);
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, other->ListColumns());
  ASSERT_EQ(columns.size(), 1u);
  EXPECT_EQ(columns[0].bound_since, 4u);
}

TEST_P(StoreBindingTest, BindingABoundColumnKeepsItsBoundSince) {
  WriteKeyring(1);
  ASSERT_OK_AND_ASSIGN(ColumnRef bound, store_->SetColumnBinding("credentials", "secret", true));
  EXPECT_EQ(bound.bound_since, 2u);
  WriteKeyring(3);  // two rotations later
  ASSERT_OK_AND_ASSIGN(bound, store_->SetColumnBinding("credentials", "secret", true));
  EXPECT_EQ(bound.bound_since, 2u);
  EXPECT_EQ(StoredBoundSince(), "2");
}

TEST_P(StoreBindingTest, UnbindClearsTheBinding) {
  WriteKeyring(2);
  ASSERT_OK(store_->SetColumnBinding("credentials", "secret", true).status());
  int64_t before = Revision();
  ASSERT_OK_AND_ASSIGN(ColumnRef unbound,
                       store_->SetColumnBinding("credentials", "secret", false));
  EXPECT_EQ(unbound, kSecrets);
  EXPECT_FALSE(unbound.bound());
  EXPECT_EQ(StoredBoundSince(), "NULL");
  EXPECT_EQ(Revision(), before + 1);
  ASSERT_OK_AND_ASSIGN(ColumnRef found, store_->FindColumn("credentials", "secret"));
  EXPECT_FALSE(found.bound());
  // Binding again after an unbind starts from the newest master version again.
  WriteKeyring(5);
  ASSERT_OK_AND_ASSIGN(ColumnRef rebound, store_->SetColumnBinding("credentials", "secret", true));
  EXPECT_EQ(rebound.bound_since, 6u);
}

TEST_P(StoreBindingTest, UnknownColumnIsNotFoundAndNothingChanges) {
  WriteKeyring(1);
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->SetColumnBinding("credentials", "name", true).status(), kNotFound,
                "'credentials.name' is not registered");
  EXPECT_STATUS(store_->SetColumnBinding("nope", "secret", false).status(), kNotFound,
                "is not registered");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreBindingTest, WithoutAKeyringItIsNotInitializedAndNothingChanges) {
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->SetColumnBinding("credentials", "secret", true).status(),
                kNotInitialized, "udmg-server init");
  EXPECT_STATUS(store_->SetColumnBinding("credentials", "secret", false).status(),
                kNotInitialized, "udmg-server init");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreBindingTest, ForwardingStoreForwardsTheBinding) {
  WriteKeyring(1);
  ForwardingStore wrapper(OpenAnother());
  ASSERT_OK_AND_ASSIGN(ColumnRef bound, wrapper.SetColumnBinding("credentials", "secret", true));
  EXPECT_EQ(bound.bound_since, 2u);
  EXPECT_EQ(StoredBoundSince(), "2");
}

// A rotation holding the keyring lock when the binding starts: the binding waits for it and takes
// the version that rotation made as the newest (bound_since 3, not 2).
TEST_P(StoreBindingTest, BindingWaitsForTheKeyringLock) {
  WriteKeyring(1);
  const bool sqlite = GetParam().name == "sqlite";
  const std::string lock_id = std::to_string(postgres::kKeyringLockId);
  std::unique_ptr<Store> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  database_->Execute(sqlite ? "BEGIN IMMEDIATE"
                            : "SELECT pg_advisory_lock(" + lock_id + ")");
  Result<ColumnRef> bound = Error{ErrorCode::kInternal, "not run"};
  std::thread binder([&] { bound = other->SetColumnBinding("credentials", "secret", true); });
  EXPECT_TRUE(database_->WaitForBlockedConnection()) << "the binding never waited for the lock";
  database_->Execute(
      "INSERT INTO udmg_master_keys (version, k3, root_version, state, created_at) "
      "VALUES (2, 'gAAAAAk3-2', 1, 'decrypt_only', 0)");
  database_->Execute(sqlite ? "COMMIT" : "SELECT pg_advisory_unlock(" + lock_id + ")");
  binder.join();
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(bound->bound_since, 3u);
  EXPECT_EQ(StoredBoundSince(), "3");
}

// Target version 2: "udmg:v2:" is current for an unbound column and stale for a bound one, and
// "udmg:b2:" the reverse; other versions are stale either way. The binding comes from the
// ColumnRef given (the registered column stays unbound here): the store does not look it up.
TEST_P(StoreBindingTest, StalePredicateFollowsTheColumnsBinding) {
  Insert(1, "'udmg:v2:unbound current'");
  Insert(2, "'udmg:b2:bound current'");
  Insert(3, "'udmg:v1:unbound old'");
  Insert(4, "'udmg:b1:bound old'");
  Insert(5, "'legacy plaintext'");
  Insert(6, "NULL");
  Insert(7, "'udmg:b22:bound newer'");
  const ColumnRef bound = Bound(kSecrets, 2);
  const std::vector<RowKey> unbound_stale = {int64_t{2}, int64_t{3}, int64_t{4}, int64_t{7}};
  const std::vector<RowKey> bound_stale = {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{7}};
  const StaleFilter filter{2, false};

  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> stale,
                       store_->FetchStale(kSecrets, filter, std::nullopt, 100));
  EXPECT_EQ(Keys(stale), unbound_stale);
  ASSERT_OK_AND_ASSIGN(stale, store_->FetchStale(bound, filter, std::nullopt, 100));
  EXPECT_EQ(Keys(stale), bound_stale);
  // Pages after a key too.
  ASSERT_OK_AND_ASSIGN(stale, store_->FetchStale(bound, filter, RowKey(int64_t{1}), 2));
  EXPECT_EQ(Keys(stale), (std::vector<RowKey>{int64_t{3}, int64_t{4}}));

  ASSERT_OK_AND_ASSIGN(uint64_t count, store_->CountStale(kSecrets, filter));
  EXPECT_EQ(count, unbound_stale.size());
  ASSERT_OK_AND_ASSIGN(count, store_->CountStale(bound, filter));
  EXPECT_EQ(count, bound_stale.size());
  const StaleFilter with_plaintext{2, true};
  ASSERT_OK_AND_ASSIGN(count, store_->CountStale(bound, with_plaintext));
  EXPECT_EQ(count, bound_stale.size() + 1);
  ASSERT_OK_AND_ASSIGN(stale, store_->FetchStale(bound, with_plaintext, std::nullopt, 100));
  EXPECT_EQ(Keys(stale), (std::vector<RowKey>{int64_t{1}, int64_t{3}, int64_t{4}, int64_t{5},
                                              int64_t{7}}));
}

// A shared job splits a bound column at its stale keys by the bound predicate: one row per range
// gives ranges ending at each stale key, then an open one.
TEST_P(StoreBindingTest, SharedJobRangesFollowTheColumnsBinding) {
  Insert(1, "'udmg:v2:a'");
  Insert(2, "'udmg:b2:b'");
  Insert(3, "'udmg:v1:c'");
  const ColumnRef bound = Bound(kSecrets, 2);
  ASSERT_OK_AND_ASSIGN(int64_t job,
                       FindOrCreateSharedJob(*store_, "reencrypt", 2, {bound}, {2, false}, 1));
  std::vector<std::optional<RowKey>> uppers;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::optional<JobRange> range, store_->ClaimRange(job, "a:1", 600000));
    if (!range) break;
    uppers.push_back(range->upper);
  }
  EXPECT_EQ(uppers, (std::vector<std::optional<RowKey>>{RowKey(int64_t{1}), RowKey(int64_t{3}),
                                                        std::nullopt}));
}

TEST_P(StoreBindingTest, CountValuesCountsTheBoundFormByVersion) {
  int64_t id = 0;
  auto add = [&](const std::string& value_sql, int times) {
    for (int i = 0; i < times; ++i) Insert(++id, value_sql);
  };
  add("'udmg:b3:x'", 2);
  add("'udmg:v3:y'", 1);
  add("'udmg:v1:z'", 1);
  add("'udmg:b4294967295:w'", 1);
  add("'plain'", 1);
  add("NULL", 1);
  for (const char* malformed : {"'udmg:b0:x'", "'udmg:b03:x'", "'udmg:B3:x'", "'udmg:b:x'",
                                "'udmg:b4294967296:x'", "'udmg:bv3:x'"}) {
    add(malformed, 1);
  }
  ASSERT_OK_AND_ASSIGN(ValueCounts counts, store_->CountValues(Bound(kSecrets, 2)));
  EXPECT_EQ(counts.by_version, (std::map<uint32_t, uint64_t>{{1, 1}, {3, 3}, {4294967295u, 1}}));
  EXPECT_EQ(counts.bound, 3u);
  EXPECT_EQ(counts.plaintext, 1u);
  EXPECT_EQ(counts.malformed, 6u);
  EXPECT_EQ(counts.null_values, 1u);
  // The same whatever the ColumnRef's binding: counting looks at the values only.
  ASSERT_OK_AND_ASSIGN(ValueCounts unbound_counts, store_->CountValues(kSecrets));
  EXPECT_EQ(unbound_counts.by_version, counts.by_version);
  EXPECT_EQ(unbound_counts.bound, 3u);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreBindingTest);

}  // namespace
}  // namespace udmg::db::testing
