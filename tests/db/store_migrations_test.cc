// Store::Migrate on every backend: fresh, idempotent (writes nothing), concurrent, too new.
#include <latch>
#include <thread>

#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using StoreMigrationsTest = StoreTest;

constexpr const char* kTables[] = {"udmg_schema_migrations",
                                   "udmg_root_keys",
                                   "udmg_master_keys",
                                   "udmg_encrypted_columns",
                                   "udmg_meta",
                                   "udmg_key_usage",
                                   "udmg_jobs",
                                   "udmg_job_columns",
                                   "udmg_reencrypt_failures",
                                   "udmg_job_ranges",
                                   "udmg_backups",
                                   "udmg_nodes",
                                   "udmg_replaced_keys",
                                   "udmg_audit",
                                   "udmg_policy"};
// Rows of udmg_schema_migrations at the latest version (one per migration).
constexpr const char* kMigrationCount = "9";

TEST_P(StoreMigrationsTest, FreshDatabaseGetsEveryTableAndNoKeyring) {
  for (const char* table : kTables) {
    EXPECT_EQ(database_->QueryText(std::string("SELECT count(*) FROM ") + table),
              table == std::string("udmg_schema_migrations") ? kMigrationCount : "0")
        << table;
  }
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> keyring, store_->LoadKeyring());
  EXPECT_FALSE(keyring.has_value());
  ASSERT_OK_AND_ASSIGN(int64_t revision, store_->KeyringRevision());
  EXPECT_EQ(revision, 0);
}

TEST_P(StoreMigrationsTest, MigrateAtTheLatestVersionWritesNothing) {
  database_->Execute("CREATE TABLE credentials (id INTEGER PRIMARY KEY, secret TEXT)");
  ASSERT_OK(store_->AddColumn({"credentials", "secret", "id"}));
  std::string before = database_->Dump();
  ASSERT_OK(store_->Migrate());
  std::unique_ptr<Store> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK(other->Migrate());
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreMigrationsTest, ConcurrentFirstStartsApplyEachMigrationOnce) {
  std::unique_ptr<TestDatabase> fresh = GetParam().make_database();
  constexpr int kProcesses = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kProcesses; ++i) {
    Result<std::unique_ptr<Store>> store = OpenStore(fresh->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    stores.push_back(std::move(store).value());
  }
  std::latch start(kProcesses);
  std::vector<Status> results(kProcesses);
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = stores[i]->Migrate();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& result : results) EXPECT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(fresh->QueryText("SELECT count(*) FROM udmg_schema_migrations"), kMigrationCount);
  EXPECT_EQ(fresh->QueryText("SELECT count(*) FROM udmg_root_keys"), "0");
}

TEST_P(StoreMigrationsTest, NewerSchemaIsRefusedWithoutChange) {
  database_->Execute("INSERT INTO udmg_schema_migrations (version, applied_at) VALUES (999, 0)");
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->Migrate(), kDatabase, "upgrade udmg-server");
  EXPECT_EQ(database_->Dump(), before);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreMigrationsTest);

}  // namespace
}  // namespace udmg::db::testing
