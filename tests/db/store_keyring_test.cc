// Store keyring on every backend: round trip, revision, the lock (race), rollback, invariants,
// and the per-version encryption counters.
#include <chrono>
#include <latch>
#include <stdexcept>
#include <thread>

#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using StoreKeyringTest = StoreTest;

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

TEST_P(StoreKeyringTest, RoundTripAndRevision) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> loaded, store_->LoadKeyring());
  ASSERT_TRUE(loaded.has_value());
  KeyringRecords expected = MakeKeyring(1, 1);
  expected.revision = 1;
  EXPECT_EQ(*loaded, expected);

  KeyringRecords rotated = MakeKeyring(3, 2);
  rotated.masters[0].state = MasterKeyState::kRetired;
  ASSERT_OK(store_->UpdateKeyring(Replace(rotated)));
  ASSERT_OK_AND_ASSIGN(loaded, store_->LoadKeyring());
  rotated.revision = 2;
  EXPECT_EQ(*loaded, rotated);
  ASSERT_OK_AND_ASSIGN(int64_t revision, OpenAnother()->KeyringRevision());
  EXPECT_EQ(revision, 2);
}

TEST_P(StoreKeyringTest, ChangeSeesTheKeyringUnderTheLock) {
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
  EXPECT_EQ(seen[1]->masters.size(), 1u);
}

TEST_P(StoreKeyringTest, KeyringIdIsMadeOnceAtTheFirstWrite) {
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM udmg_meta"), "0");
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  std::string id = database_->QueryText("SELECT keyring_id FROM udmg_meta");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 2))));
  EXPECT_EQ(database_->QueryText("SELECT keyring_id FROM udmg_meta"), id);
}

TEST_P(StoreKeyringTest, RefusedChangeWritesNothing) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  std::string before = database_->Dump();
  Status status =
      store_->UpdateKeyring([](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
        return Error{ErrorCode::kWrongKey, "wrong root key"};
      });
  EXPECT_STATUS(status, kWrongKey, "wrong root key");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreKeyringTest, ThrowingChangeRollsBackAndTheStoreStaysUsable) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  std::string before = database_->Dump();
  Status status =
      store_->UpdateKeyring([](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
        throw std::runtime_error("boom");
      });
  EXPECT_STATUS(status, kInternal, "nothing was written");
  EXPECT_EQ(database_->Dump(), before);
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(2, 1))));
  ASSERT_OK_AND_ASSIGN(int64_t revision, store_->KeyringRevision());
  EXPECT_EQ(revision, 2);
}

TEST_P(StoreKeyringTest, KeyringsTheSchemaCannotHoldAreRefused) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 2))));
  std::string before = database_->Dump();
  KeyringRecords two_active = MakeKeyring(1, 2);
  two_active.masters[0].state = MasterKeyState::kActive;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(two_active)), kInternal, "instead of exactly 1");
  KeyringRecords none_active = MakeKeyring(1, 2);
  none_active.masters[1].state = MasterKeyState::kDecryptOnly;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(none_active)), kInternal, "instead of exactly 1");
  KeyringRecords repeated = MakeKeyring(2, 1);
  repeated.roots[1].fingerprint = repeated.roots[0].fingerprint;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(repeated)), kInternal, "root version");
  // A master wrapped under a root version that is not stored: the foreign key refuses it.
  KeyringRecords dangling = MakeKeyring(1, 1);
  dangling.masters[0].root_version = 7;
  EXPECT_STATUS(store_->UpdateKeyring(Replace(dangling)), kDatabase, "writing the keyring");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreKeyringTest, DatabaseItselfAllowsOneActiveMasterVersion) {
  ASSERT_OK(store_->UpdateKeyring(Replace(MakeKeyring(1, 1))));
  std::string error = database_->TryExecute(
      "INSERT INTO udmg_master_keys (version, k3, root_version, state, created_at) "
      "VALUES (2, 'x', 1, 'active', 0)");
  EXPECT_NE(error, "");
  error = database_->TryExecute(
      "INSERT INTO udmg_master_keys (version, k3, root_version, state, created_at) "
      "VALUES (3, 'x', 1, 'Active', 0)");
  EXPECT_NE(error, "");
}

// Two rotations race on two connections; each insists the revision it read has not moved.
// Exactly one wins; the other waits for the lock, sees the new revision and refuses.
TEST_P(StoreKeyringTest, ConcurrentChangesExactlyOneWins) {
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
            [&, i,
             seen = *seen](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
              if (!current || current->revision != seen) {
                return Error{ErrorCode::kConflict, "the keyring changed meanwhile"};
              }
              // Hold the lock a little, so that the other thread usually has to wait for it.
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
              return WithNewActiveMaster(*current, "k3-by-" + std::to_string(i));
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

TEST_P(StoreKeyringTest, EncryptionCountsAccumulatePerVersion) {
  ASSERT_OK_AND_ASSIGN(auto counts, store_->LoadEncryptions());
  EXPECT_TRUE(counts.empty());
  ASSERT_OK_AND_ASSIGN(auto totals, store_->AddEncryptions({{1, 5}, {2, 3}}));
  EXPECT_EQ(totals, (std::map<uint32_t, uint64_t>{{1, 5}, {2, 3}}));
  ASSERT_OK_AND_ASSIGN(totals, store_->AddEncryptions({{2, 4}}));
  EXPECT_EQ(totals, (std::map<uint32_t, uint64_t>{{2, 7}}))
      << "the new total of each version added to";
  ASSERT_OK_AND_ASSIGN(totals, store_->AddEncryptions({}));
  EXPECT_TRUE(totals.empty());
  ASSERT_OK_AND_ASSIGN(counts, OpenAnother()->LoadEncryptions());
  EXPECT_EQ(counts, (std::map<uint32_t, uint64_t>{{1, 5}, {2, 7}}));
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreKeyringTest);

}  // namespace
}  // namespace udmg::db::testing
