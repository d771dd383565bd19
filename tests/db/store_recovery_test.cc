// Store disaster recovery and nodes on every backend: backups recorded, nodes upserted,
// and the checked keyring change (value counts per version and column under the lock, the
// running-job refusal, keyring id, archived rows, all-or-nothing writes, serialization).
#include <algorithm>
#include <chrono>
#include <latch>
#include <set>
#include <stdexcept>
#include <thread>

#include "db/store_internal.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using StoreRecoveryTest = StoreTest;
using Replacement = std::optional<KeyringReplacement>;

const ColumnRef kSecrets{"credentials", "secret", "id"};
const ColumnRef kTokens{"tokens", "value", "name"};

Store::KeyringChange Replace(KeyringRecords records) {
  return [records](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
    return records;
  };
}

// A checked change that writes `replacement` whatever it sees.
Store::CheckedKeyringChange Write(KeyringReplacement replacement) {
  return [replacement](const std::optional<KeyringRecords>&, const std::string&,
                       const VersionUsage&) -> Result<Replacement> {
    return Replacement(replacement);
  };
}

class StoreRecoveryValuesTest : public StoreTest {
 protected:
  // Two registered columns with values under versions 1..3, plus NULL, plaintext and a malformed
  // envelope (none of which is a version), and an unregistered table that must not be counted.
  void PlantValues() {
    database_->Execute("CREATE TABLE credentials (id integer PRIMARY KEY, secret text)");
    database_->Execute(
        "INSERT INTO credentials (id, secret) VALUES (1, 'udmg:v1:AAAA'), (2, 'udmg:v1:BBBB'), "
        "(3, 'udmg:v2:CCCC'), (4, NULL), (5, 'legacy plaintext'), (6, 'udmg:x'), "
        "(7, 'UDMG:V3:DDDD')");
    database_->Execute("CREATE TABLE tokens (name text PRIMARY KEY, value text)");
    database_->Execute(
        "INSERT INTO tokens (name, value) VALUES ('a', 'udmg:v2:EEEE'), ('b', 'udmg:v3:FFFF'), "
        "('c', 'udmg:v3:GGGG'), ('d', 'udmg:v3:HHHH')");
    database_->Execute("CREATE TABLE unregistered (id integer PRIMARY KEY, value text)");
    database_->Execute("INSERT INTO unregistered (id, value) VALUES (1, 'udmg:v9:IIII')");
    ASSERT_OK(store_->AddColumn(kSecrets));
    ASSERT_OK(store_->AddColumn(kTokens));
  }
};

// ---- Backups and nodes -------------------------------------------------------------------------

TEST_P(StoreRecoveryTest, BackupsAreRecordedAndTheNewestIsReturned) {
  ASSERT_OK_AND_ASSIGN(std::optional<BackupRecord> latest, store_->LatestBackup());
  EXPECT_FALSE(latest.has_value());
  ASSERT_OK(store_->RecordBackup(BackupRecord{300, 2, "fp-two", 5}));
  ASSERT_OK(store_->RecordBackup(BackupRecord{100, 1, "fp-one", 1}));
  ASSERT_OK_AND_ASSIGN(latest, OpenAnother()->LatestBackup());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->taken_at, 300);
  EXPECT_EQ(latest->root_version, 2u);
  EXPECT_EQ(latest->root_fingerprint, "fp-two");
  EXPECT_EQ(latest->keyring_revision, 5);
  // Two backups in the same second: the one recorded last.
  ASSERT_OK(store_->RecordBackup(BackupRecord{300, 3, "fp-three", 6}));
  ASSERT_OK_AND_ASSIGN(latest, store_->LatestBackup());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->root_version, 3u);
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM udmg_backups"), "3");
}

TEST_P(StoreRecoveryTest, NodesAreUpsertedAndKeepTheirFirstSeen) {
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> nodes, store_->ListNodes());
  EXPECT_TRUE(nodes.empty());
  NodeRecord web{"web-1", "host-a", 11, "udmg-server status", 1, "fp1", 100, 100};
  ASSERT_OK(store_->RecordNode(web));
  // The same node later: new process, newer K0; its first appearance stays.
  NodeRecord again{"web-1", "host-b", 22, "udmg-server reencrypt", 2, "fp2", 999, 250};
  ASSERT_OK(store_->RecordNode(again));
  // A node whose K0 matches no root version, and one whose name sorts first byte-wise.
  NodeRecord unknown{"batch", "host-c", 33, "udmg-server doctor", std::nullopt, "", 50, 60};
  NodeRecord upper{"Z-node", "host-d", 44, "udmg-server sweep", 1, "fp1", 70, 80};
  ASSERT_OK(store_->RecordNode(unknown));
  ASSERT_OK(store_->RecordNode(upper));

  ASSERT_OK_AND_ASSIGN(nodes, OpenAnother()->ListNodes());
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].node_id, "Z-node");
  EXPECT_EQ(nodes[1].node_id, "batch");
  EXPECT_FALSE(nodes[1].root_version.has_value());
  EXPECT_EQ(nodes[1].root_fingerprint, "");
  EXPECT_EQ(nodes[1].first_seen, 50);
  const NodeRecord& updated = nodes[2];
  EXPECT_EQ(updated.node_id, "web-1");
  EXPECT_EQ(updated.host, "host-b");
  EXPECT_EQ(updated.pid, 22);
  EXPECT_EQ(updated.program, "udmg-server reencrypt");
  EXPECT_EQ(updated.root_version, std::optional<uint32_t>(2));
  EXPECT_EQ(updated.root_fingerprint, "fp2");
  EXPECT_EQ(updated.first_seen, 100);
  EXPECT_EQ(updated.last_seen, 250);

  // A known version can become unknown again (the node's K0 was replaced by a stranger).
  NodeRecord lost = again;
  lost.root_version = std::nullopt;
  ASSERT_OK(store_->RecordNode(lost));
  ASSERT_OK_AND_ASSIGN(nodes, store_->ListNodes());
  EXPECT_FALSE(nodes[2].root_version.has_value());

  std::string before = database_->Dump();
  EXPECT_STATUS(store_->RecordNode(NodeRecord{}), kBadInput, "this node has no id");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreRecoveryTest, KeyringIdIsEmptyUntilTheFirstKeyring) {
  ASSERT_OK_AND_ASSIGN(std::string id, store_->KeyringId());
  EXPECT_EQ(id, "");
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(1))));
  ASSERT_OK_AND_ASSIGN(id, OpenAnother()->KeyringId());
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id, database_->QueryText("SELECT keyring_id FROM udmg_meta"));
}

// ---- Checked keyring change -----------------------------------------------------------------

TEST_P(StoreRecoveryValuesTest, ChangeSeesCountsPerVersionAndColumnAndNulloptWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(PlantValues());
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(3))));
  ASSERT_OK_AND_ASSIGN(std::string keyring_id, store_->KeyringId());
  std::string before = database_->Dump();

  int calls = 0;
  ASSERT_OK(store_->UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>& current, const std::string& id,
          const VersionUsage& usage) -> Result<Replacement> {
        ++calls;
        EXPECT_TRUE(current.has_value());
        if (current) {
          EXPECT_EQ(current->masters.size(), 3u);
          EXPECT_EQ(current->revision, 1);
        }
        EXPECT_EQ(id, keyring_id);
        VersionUsage expected = {
            {1, {{"credentials.secret", 2}}},
            {2, {{"credentials.secret", 1}, {"tokens.value", 1}}},
            {3, {{"tokens.value", 3}}},
        };
        EXPECT_EQ(usage, expected);
        return Replacement();
      },
      /*refuse_while_job_runs=*/true));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreRecoveryValuesTest, NoRegisteredColumnMeansNoUsage) {
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(1))));
  bool empty = false;
  ASSERT_OK(store_->UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>&, const std::string&,
          const VersionUsage& usage) -> Result<Replacement> {
        empty = usage.empty();
        return Replacement();
      },
      false));
  EXPECT_TRUE(empty);
}

TEST_P(StoreRecoveryValuesTest, AColumnThatCannotBeCountedRefusesBeforeTheChange) {
  ASSERT_NO_FATAL_FAILURE(PlantValues());
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(3))));
  database_->Execute("DROP TABLE tokens");
  std::string before = database_->Dump();
  bool called = false;
  Status status = store_->UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>&, const std::string&,
          const VersionUsage&) -> Result<Replacement> {
        called = true;
        return Replacement();
      },
      false);
  EXPECT_STATUS(status, kDatabase, "tokens");
  EXPECT_FALSE(called);
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreRecoveryTest, ChangeWritesTheKeyringAndArchivedRowsTogether) {
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(2))));
  ASSERT_OK_AND_ASSIGN(std::string keyring_id, store_->KeyringId());
  KeyringReplacement replacement{OpaqueKeyring(2), keyring_id, {}};
  replacement.records.masters[0].k3 = "gAAAAAk3-from-backup";
  replacement.archived.push_back(ArchivedKeyRow{
      "master", 1, R"({"version":1,"k3":"gAAAAAk3-1"})", "replaced by the backup's version 1"});
  replacement.archived.push_back(
      ArchivedKeyRow{"root", 4, R"({"version":4})", "root version 4 set aside (by the force option)"});
  int64_t start = internal::UnixNow();
  ASSERT_OK(store_->UpdateKeyringChecked(Write(replacement), true));
  int64_t end = internal::UnixNow();

  std::unique_ptr<Store> other = OpenAnother();
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> loaded, other->LoadKeyring());
  ASSERT_TRUE(loaded.has_value());
  KeyringRecords expected = replacement.records;
  expected.revision = 2;
  EXPECT_EQ(*loaded, expected);
  ASSERT_OK_AND_ASSIGN(std::string id_after, other->KeyringId());
  EXPECT_EQ(id_after, keyring_id);

  ASSERT_OK_AND_ASSIGN(std::vector<ReplacedKeyRecord> replaced, other->ListReplacedKeys());
  ASSERT_EQ(replaced.size(), 2u);
  for (size_t i = 0; i < replaced.size(); ++i) {
    EXPECT_EQ(replaced[i].row.kind, replacement.archived[i].kind);
    EXPECT_EQ(replaced[i].row.version, replacement.archived[i].version);
    EXPECT_EQ(replaced[i].row.row_json, replacement.archived[i].row_json);
    EXPECT_EQ(replaced[i].row.reason, replacement.archived[i].reason);
    EXPECT_GE(replaced[i].replaced_at, start);
    EXPECT_LE(replaced[i].replaced_at, end);
  }
  // Later changes append; earlier rows stay, oldest first.
  replacement.archived = {ArchivedKeyRow{"master", 2, "{}", "third"}};
  ASSERT_OK(store_->UpdateKeyringChecked(Write(replacement), true));
  ASSERT_OK_AND_ASSIGN(replaced, store_->ListReplacedKeys());
  ASSERT_EQ(replaced.size(), 3u);
  EXPECT_EQ(replaced[2].row.reason, "third");
}

TEST_P(StoreRecoveryTest, EveryRefusalRollsBackEverything) {
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(2))));
  ASSERT_OK_AND_ASSIGN(std::string keyring_id, store_->KeyringId());
  std::string before = database_->Dump();
  const std::vector<ArchivedKeyRow> archived = {ArchivedKeyRow{"master", 1, "{}", "set aside"}};

  EXPECT_STATUS(store_->UpdateKeyringChecked(
                    [](const std::optional<KeyringRecords>&, const std::string&,
                       const VersionUsage&) -> Result<Replacement> {
                      return Error{ErrorCode::kConflict, "conflicting master version 2"};
                    },
                    false),
                kConflict, "conflicting master version 2");
  EXPECT_EQ(database_->Dump(), before);

  EXPECT_STATUS(store_->UpdateKeyringChecked(
                    [](const std::optional<KeyringRecords>&, const std::string&,
                       const VersionUsage&) -> Result<Replacement> {
                      throw std::runtime_error("boom");
                    },
                    false),
                kInternal, "nothing was written");
  EXPECT_EQ(database_->Dump(), before);

  // Refused by the store after the change: another keyring id, a malformed archived row, a
  // keyring the schema cannot hold, and one the database refuses at commit (a master version
  // under a root version that is not stored): the archived rows must not stay behind either.
  EXPECT_STATUS(store_->UpdateKeyringChecked(
                    Write(KeyringReplacement{OpaqueKeyring(2), "0123456789abcdef0123456789abcdef",
                                             archived}),
                    false),
                kInternal, keyring_id);
  EXPECT_STATUS(store_->UpdateKeyringChecked(
                    Write(KeyringReplacement{
                        OpaqueKeyring(2), "", {ArchivedKeyRow{"k1", 1, "{}", ""}}}),
                    false),
                kInternal, "kind 'k1'");
  KeyringRecords two_active = OpaqueKeyring(2);
  two_active.masters[0].state = MasterKeyState::kActive;
  EXPECT_STATUS(
      store_->UpdateKeyringChecked(Write(KeyringReplacement{two_active, "", archived}), false),
      kInternal, "instead of exactly 1");
  KeyringRecords dangling = OpaqueKeyring(2);
  dangling.masters[1].root_version = 7;
  EXPECT_STATUS(
      store_->UpdateKeyringChecked(Write(KeyringReplacement{dangling, "", archived}), false),
      kDatabase, "keyring");
  EXPECT_EQ(database_->Dump(), before);

  // The store is still usable after every refusal.
  ASSERT_OK(store_->UpdateKeyringChecked(Write(KeyringReplacement{OpaqueKeyring(3), "", archived}),
                                         false));
  ASSERT_OK_AND_ASSIGN(int64_t revision, store_->KeyringRevision());
  EXPECT_EQ(revision, 2);
}

TEST_P(StoreRecoveryTest, ARunningJobRefusesBeforeTheChangeIsCalled) {
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(2))));
  ASSERT_OK_AND_ASSIGN(int64_t done_job, store_->CreateJob("sweep", 2, {kSecrets}));
  ASSERT_OK(store_->SetJobState(done_job, db::JobState::kDone));
  ASSERT_OK_AND_ASSIGN(int64_t job, store_->CreateJob("reencrypt", 2, {kSecrets}));
  std::string before = database_->Dump();
  int calls = 0;
  auto count_calls = [&](const std::optional<KeyringRecords>&, const std::string&,
                         const VersionUsage&) -> Result<Replacement> {
    ++calls;
    return Replacement();
  };
  Status status = store_->UpdateKeyringChecked(count_calls, true);
  EXPECT_STATUS(status, kConflict,
                "job " + std::to_string(job) + " (reencrypt) is running: wait for it to finish");
  EXPECT_NE(status.message().find("`udmg-server reencrypt` with the mark-stopped option releases it "
                                  "and `udmg-server reencrypt` then resumes it"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(status.setting(), "mark_stopped") << "the CLI names its flag";
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(database_->Dump(), before);

  // Without the check (prune, say) the change runs; a stopped job no longer refuses.
  ASSERT_OK(store_->UpdateKeyringChecked(count_calls, false));
  EXPECT_EQ(calls, 1);
  ASSERT_OK(store_->SetJobState(job, db::JobState::kStopped));
  ASSERT_OK(store_->UpdateKeyringChecked(count_calls, true));
  EXPECT_EQ(calls, 2);
}

TEST_P(StoreRecoveryTest, AnEmptyDatabaseTakesTheGivenKeyringId) {
  const std::string backup_id = "00112233445566778899aabbccddeeff";
  bool saw_empty = false;
  ASSERT_OK(store_->UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>& current, const std::string& id,
          const VersionUsage& usage) -> Result<Replacement> {
        saw_empty = !current.has_value() && id.empty() && usage.empty();
        return Replacement(KeyringReplacement{OpaqueKeyring(1), backup_id, {}});
      },
      true));
  EXPECT_TRUE(saw_empty);
  ASSERT_OK_AND_ASSIGN(std::string id, OpenAnother()->KeyringId());
  EXPECT_EQ(id, backup_id);
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> loaded, store_->LoadKeyring());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->revision, 1);
  // Later changes keep it: the same id given again, none given, or a plain rotation.
  ASSERT_OK(store_->UpdateKeyringChecked(Write(KeyringReplacement{OpaqueKeyring(2), backup_id, {}}),
                                         false));
  ASSERT_OK(
      store_->UpdateKeyringChecked(Write(KeyringReplacement{OpaqueKeyring(3), "", {}}), false));
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(4))));
  ASSERT_OK_AND_ASSIGN(id, store_->KeyringId());
  EXPECT_EQ(id, backup_id);
  EXPECT_STATUS(
      store_->UpdateKeyringChecked(
          Write(KeyringReplacement{OpaqueKeyring(1), "not an id!", {}}), false),
      kInternal, "keyring id");
}

// Two checked changes race on two connections; each appends a master version to what it sees.
// The lock makes them one after the other: both succeed, and the second sees the first's version.
TEST_P(StoreRecoveryTest, ConcurrentCheckedChangesSerialize) {
  ASSERT_OK(store_->UpdateKeyring(Replace(OpaqueKeyring(1))));
  std::unique_ptr<Store> stores[2] = {OpenAnother(), OpenAnother()};
  ASSERT_NE(stores[0], nullptr);
  ASSERT_NE(stores[1], nullptr);
  std::latch both_ready(2);
  Status results[2];
  int64_t seen_revision[2] = {0, 0};
  std::thread threads[2];
  for (int i = 0; i < 2; ++i) {
    threads[i] = std::thread([&, i] {
      both_ready.arrive_and_wait();
      results[i] = stores[i]->UpdateKeyringChecked(
          [&, i](const std::optional<KeyringRecords>& current, const std::string&,
                 const VersionUsage&) -> Result<Replacement> {
            if (!current) return Error{ErrorCode::kInternal, "no keyring under the lock"};
            seen_revision[i] = current->revision;
            // Hold the lock a little, so that the other thread usually has to wait for it.
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            KeyringRecords next = WithNewActiveMaster(*current, "k3-by-" + std::to_string(i));
            return Replacement(KeyringReplacement{std::move(next), "", {}});
          },
          false);
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_OK(results[0]);
  ASSERT_OK(results[1]);
  EXPECT_EQ(std::set<int64_t>(seen_revision, seen_revision + 2), (std::set<int64_t>{1, 2}));
  ASSERT_OK_AND_ASSIGN(std::optional<KeyringRecords> keyring, store_->LoadKeyring());
  ASSERT_TRUE(keyring.has_value());
  EXPECT_EQ(keyring->revision, 3);
  ASSERT_EQ(keyring->masters.size(), 3u);
  EXPECT_EQ(keyring->masters[2].state, MasterKeyState::kActive);
  // The later change was made on top of the earlier one: each thread's version is stored.
  std::set<std::string> k3s;
  for (const MasterKeyRecord& master : keyring->masters) k3s.insert(master.k3);
  EXPECT_TRUE(k3s.count("k3-by-0") && k3s.count("k3-by-1"));
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreRecoveryTest);
UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreRecoveryValuesTest);

}  // namespace
}  // namespace udmg::db::testing
