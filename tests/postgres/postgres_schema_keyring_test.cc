// PgStore migrations and keyring on a real server: fresh schema, idempotent Migrate, concurrent
// first starts, a newer schema refused; keyring round trip, the advisory lock (race), rollback,
// invariants, and the per-version encryption counters.
#include <chrono>
#include <latch>
#include <stdexcept>
#include <thread>

#include "tests/postgres/pg_store_fixture.h"

namespace udmg::db::testing {
namespace {

using PgSchemaTest = PgStoreTest;
using PgKeyringTest = PgStoreTest;

TEST_F(PgSchemaTest, FreshSchemaGetsEveryTableAndNoKeyring) {
  for (const char* table : {"udmg_root_keys", "udmg_master_keys", "udmg_encrypted_columns",
                            "udmg_meta", "udmg_key_usage", "udmg_jobs", "udmg_job_columns",
                            "udmg_reencrypt_failures"}) {
    EXPECT_EQ(database_->QueryText(std::string("SELECT count(*) FROM ") + table), "0") << table;
  }
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM udmg_schema_migrations"), "1");
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> keyring, store_->LoadKeyring());
  EXPECT_FALSE(keyring.has_value());
  ASSERT_OK_AND_ASSIGN(int64_t revision, store_->KeyringRevision());
  EXPECT_EQ(revision, 0);
}

TEST_F(PgSchemaTest, MigrateAtTheLatestVersionWritesNothing) {
  database_->Execute("CREATE TABLE credentials (id integer PRIMARY KEY, secret text)");
  ASSERT_OK(store_->AddColumn({"credentials", "secret", "id"}));
  std::string before = database_->Dump();
  ASSERT_OK(store_->Migrate());
  ASSERT_OK(OpenAnother()->Migrate());
  EXPECT_EQ(database_->Dump(), before);
}

TEST_F(PgSchemaTest, ConcurrentFirstStartsApplyEachMigrationOnce) {
  std::unique_ptr<TestDatabase> fresh = MakePostgresDatabase();
  constexpr int kProcesses = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kProcesses; ++i) {
    Result<std::unique_ptr<Store>> store = postgres::OpenPostgresStore(fresh->url());
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
  EXPECT_EQ(fresh->QueryText("SELECT count(*) FROM udmg_schema_migrations"), "1");
}

TEST_F(PgSchemaTest, NewerSchemaIsRefusedWithoutChange) {
  database_->Execute("INSERT INTO udmg_schema_migrations (version, applied_at) VALUES (999, 0)");
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->Migrate(), kDatabase, "upgrade udmg-server");
  EXPECT_EQ(database_->Dump(), before);
}

// Records as the engine shapes them; the store does not look inside tokens or fingerprints.
KeyringRecords MakeKeyring(uint32_t roots, uint32_t masters) {
  KeyringRecords records;
  for (uint32_t v = 1; v <= roots; ++v) {
    RootKeyRecord root{v, "fp" + std::to_string(v), std::nullopt, std::nullopt, 1000 + v};
    if (v < roots) {
      root.wrapped_key = "gAAAAAroot" + std::to_string(v);
      root.wrapped_by = roots;
    }
    records.roots.push_back(root);
  }
  for (uint32_t v = 1; v <= masters; ++v) {
    records.masters.push_back(MasterKeyRecord{
        v, "gAAAAAk3-" + std::to_string(v), roots,
        v == masters ? MasterKeyState::kActive : MasterKeyState::kDecryptOnly, 2000 + v});
  }
  return records;
}

Store::KeyringChange Replace(KeyringRecords records) {
  return
      [records](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> { return records; };
}

TEST_F(PgKeyringTest, RoundTripRevisionAndKeyringId) {
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM udmg_meta"), "0");
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> loaded, store_->LoadKeyring());
  ASSERT_TRUE(loaded.has_value());
  KeyringRecords expected = MakeKeyring(1, 1);
  expected.revision = 1;
  EXPECT_EQ(*loaded, expected);
  std::string id = database_->QueryText("SELECT keyring_id FROM udmg_meta");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;

  KeyringRecords rotated = MakeKeyring(3, 2);
  rotated.masters[0].state = MasterKeyState::kRetired;
  ASSERT_OK(store_->UpdateKeyring(Replace(rotated)));
  ASSERT_OK_AND_ASSIGN(loaded, OpenAnother()->LoadKeyring());
  rotated.revision = 2;
  EXPECT_EQ(*loaded, rotated);
  ASSERT_OK_AND_ASSIGN(int64_t revision, OpenAnother()->KeyringRevision());
  EXPECT_EQ(revision, 2);
  EXPECT_EQ(database_->QueryText("SELECT keyring_id FROM udmg_meta"), id);
}

TEST_F(PgKeyringTest, ChangeSeesTheKeyringUnderTheLock) {
  std::vector<std::optional<KeyringRecords>> seen;
  auto record_and_replace =
      [&](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
    seen.push_back(current);
    return MakeKeyring(1, static_cast<uint32_t>(seen.size()));
  };
  ASSERT_OK(store_->UpdateKeyring(record_and_replace));
  ASSERT_OK(store_->UpdateKeyring(record_and_replace));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].has_value());
  ASSERT_TRUE(seen[1].has_value());
  EXPECT_EQ(seen[1]->revision, 1);
}

TEST_F(PgKeyringTest, RefusedOrThrowingChangeWritesNothing) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  std::string before = database_->Dump();
  EXPECT_STATUS(
      store_->UpdateKeyring([](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
        return Error{ErrorCode::kWrongKey, "wrong root key"};
      }),
      kWrongKey, "wrong root key");
  EXPECT_STATUS(
      store_->UpdateKeyring([](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
        throw std::runtime_error("boom");
      }),
      kInternal, "nothing was written");
  EXPECT_EQ(database_->Dump(), before);
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(2, 1))));
  ASSERT_OK_AND_ASSIGN(int64_t revision, store_->KeyringRevision());
  EXPECT_EQ(revision, 2);
}

TEST_F(PgKeyringTest, KeyringsTheSchemaCannotHoldAreRefused) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 2))));
  std::string before = database_->Dump();
  KeyringRecords two_active = MakeKeyring(1, 2);
  two_active.masters[0].state = MasterKeyState::kActive;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(two_active)), kInternal, "instead of exactly 1");
  KeyringRecords repeated = MakeKeyring(2, 1);
  repeated.roots[1].fingerprint = repeated.roots[0].fingerprint;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(repeated)), kInternal, "root version");
  // A master wrapped under a root version that is not stored: the deferred foreign key refuses
  // it at COMMIT.
  KeyringRecords dangling = MakeKeyring(1, 1);
  dangling.masters[0].root_version = 7;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(dangling)), kDatabase, "writing the keyring");
  EXPECT_EQ(database_->Dump(), before);
  // The database itself allows one active version, spelled exactly.
  EXPECT_NE(database_->TryExecute("INSERT INTO udmg_master_keys (version, k3, root_version, "
                                  "state, created_at) VALUES (5, 'x', 1, 'active', 0)"),
            "");
  EXPECT_NE(database_->TryExecute("INSERT INTO udmg_master_keys (version, k3, root_version, "
                                  "state, created_at) VALUES (6, 'x', 1, 'Active', 0)"),
            "");
}

// Two rotations race on two connections; each insists the revision it read has not moved.
// Exactly one wins; the other waits for the advisory lock, sees the new revision and refuses.
TEST_F(PgKeyringTest, ConcurrentChangesExactlyOneWins) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  for (int round = 0; round < 5; ++round) {
    std::unique_ptr<Store> stores[2] = {OpenAnother(), OpenAnother()};
    ASSERT_NE(stores[0], nullptr);
    ASSERT_NE(stores[1], nullptr);
    std::latch both_read(2);
    Status results[2];
    std::thread threads[2];
    for (int i = 0; i < 2; ++i) {
      threads[i] = std::thread([&, i] {
        Result<int64_t> seen = stores[i]->KeyringRevision();
        both_read.arrive_and_wait();
        if (!seen.ok()) {
          results[i] = seen.status();
          return;
        }
        results[i] = stores[i]->UpdateKeyring(
            [&, i, seen = *seen](
                const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
              if (!current || current->revision != seen) {
                return Error{ErrorCode::kConflict, "the keyring changed meanwhile"};
              }
              // Hold the lock a little, so that the other thread usually has to wait for it.
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
              KeyringRecords next = *current;
              next.masters.back().state = MasterKeyState::kDecryptOnly;
              next.masters.push_back(MasterKeyRecord{next.masters.back().version + 1,
                                                     "k3-by-" + std::to_string(i), 1,
                                                     MasterKeyState::kActive, 0});
              return next;
            });
      });
    }
    for (std::thread& thread : threads) thread.join();
    int wins = 0;
    for (const Status& result : results) {
      if (result.ok()) {
        ++wins;
      } else {
        EXPECT_STATUS(result, kConflict, "changed meanwhile");
      }
    }
    EXPECT_EQ(wins, 1) << "round " << round;
    ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> keyring, store_->LoadKeyring());
    ASSERT_TRUE(keyring.has_value());
    EXPECT_EQ(keyring->revision, round + 2);
    EXPECT_EQ(keyring->masters.size(), static_cast<size_t>(round + 2));
  }
}

TEST_F(PgKeyringTest, EncryptionCountsAccumulatePerVersion) {
  ASSERT_OK_AND_ASSIGN(auto counts, store_->LoadEncryptions());
  EXPECT_TRUE(counts.empty());
  ASSERT_OK(store_->AddEncryptions({{1, 5}, {2, 3}}));
  ASSERT_OK(store_->AddEncryptions({{2, 4}}));
  ASSERT_OK(store_->AddEncryptions({}));
  ASSERT_OK_AND_ASSIGN(counts, OpenAnother()->LoadEncryptions());
  EXPECT_EQ(counts, (std::map<uint32_t, uint64_t>{{1, 5}, {2, 7}}));
}

}  // namespace
}  // namespace udmg::db::testing
