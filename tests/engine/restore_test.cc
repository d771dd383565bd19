#include "engine/restore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/encoding.h"
#include "engine/fernet.h"
#include "engine/root_key.h"

namespace udmg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1700000000;
constexpr char kKeyringId[] = "0123456789abcdef0123456789abcdef";
constexpr char kColumn[] = "credentials.secret";

KeyringRecords Must(Result<KeyringRecords> records) {
  EXPECT_TRUE(records.ok()) << records.error().message;
  return records.ok() ? *records : KeyringRecords{};
}

// A keyring history built with the real rotation rules, keeping every key to check results.
struct History {
  SecretBytes k0_1 = RandomSecret(32);
  SecretBytes k0_2 = RandomSecret(32);
  SecretBytes k1_1 = RandomSecret(32);
  SecretBytes k1_2 = RandomSecret(32);
  KeyringRecords initial = NewKeyringRecords(k0_1, k1_1, kNow);

  // The initial keyring after rotate-k0 from k0_1 to k0_2.
  KeyringRecords RootRotated() const { return Must(RotateRootKey(initial, k0_1, k0_2, kNow + 1)); }
};

BackupContents BackupOf(const KeyringRecords& records, const SecretBytes& k0,
                        std::string keyring_id = kKeyringId) {
  BackupContents backup;
  backup.keyring_id = std::move(keyring_id);
  backup.keyring_revision = records.revision;
  backup.created_at = kNow;
  backup.tool_version = "test";
  backup.root_key = k0;
  backup.root_fingerprint = RootKeyFingerprint(k0);
  backup.records = records;
  for (const RootKeyRecord& root : records.roots) {
    if (!root.wrapped_key) backup.root_version = root.version;
  }
  return backup;
}

RestoreInput InputFor(const KeyringRecords& current, std::span<const uint8_t> k0_at_hand = {}) {
  RestoreInput input;
  input.current = current;
  input.current_keyring_id = kKeyringId;
  input.current_k0 = k0_at_hand;
  input.now = kNow + 100;
  return input;
}

RestorePlan PlanOrFail(const BackupContents& backup, const RestoreInput& input) {
  Result<RestorePlan> plan = PlanRestore(backup, input);
  EXPECT_TRUE(plan.ok()) << plan.error().message;
  return plan.ok() ? std::move(*plan) : RestorePlan{};
}

void ExpectRefused(const Result<RestorePlan>& plan, ErrorCode code,
                   std::initializer_list<std::string> words) {
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, code) << plan.error().message;
  EXPECT_EQ(plan.error().message.find('\n'), std::string::npos);
  for (const std::string& word : words) EXPECT_THAT(plan.error().message, HasSubstr(word));
}

std::shared_ptr<const Keyring> OpenOrFail(const KeyringRecords& records, const SecretBytes& k0) {
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  return keyring.ok() ? *keyring : nullptr;
}

bool SameKey(const SecretBytes* a, const SecretBytes& b) { return a && SafeEquals(*a, b); }

// What the keyring of restored records shows: its active version (0: not checked) and the key
// each listed master version unwraps to.
struct ExpectedKeyring {
  uint32_t active_version = 0;
  std::vector<std::pair<uint32_t, const SecretBytes*>> masters;
};

// The records open under `k0` and show `expected`.
void ExpectKeyring(const KeyringRecords& records, const SecretBytes& k0,
                   const ExpectedKeyring& expected) {
  const std::shared_ptr<const Keyring> keyring = OpenOrFail(records, k0);
  ASSERT_TRUE(keyring);
  if (expected.active_version != 0) {
    EXPECT_EQ(keyring->active_version(), expected.active_version);
  }
  for (const auto& [version, key] : expected.masters) {
    EXPECT_TRUE(SameKey(keyring->MasterKey(version), *key)) << "master version " << version;
  }
}

// No plaintext key (hex or raw) may appear in an archived row, a change line or an error.
void ExpectNoKeyIn(const std::string& text, std::initializer_list<const SecretBytes*> keys) {
  for (const SecretBytes* key : keys) {
    EXPECT_THAT(text, Not(HasSubstr(HexEncode(*key))));
    EXPECT_THAT(text, Not(HasSubstr(std::string(AsText(*key)))));
  }
}

const MasterKeyRecord* Master(const KeyringRecords& records, uint32_t version) {
  for (const MasterKeyRecord& master : records.masters) {
    if (master.version == version) return &master;
  }
  return nullptr;
}

// ---- Rules 1, 2, 5 ---------------------------------------------------------------------------

TEST(PlanRestoreTest, BackupOfAnotherDatabaseIsRefused) {
  History h;
  const BackupContents backup = BackupOf(h.initial, h.k0_1, "ffffffffffffffffffffffffffffffff");
  ExpectRefused(PlanRestore(backup, InputFor(h.initial, h.k0_1)), ErrorCode::kConflict,
                {"another database", "ffffffffffffffffffffffffffffffff", kKeyringId});
}

TEST(PlanRestoreTest, EmptyDatabaseTakesTheBackupsKeyring) {
  History h;
  const KeyringRecords records = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  RestoreInput input;  // no keyring, no id
  const RestorePlan plan = PlanOrFail(BackupOf(records, h.k0_1), input);
  EXPECT_EQ(plan.records.roots, records.roots);
  EXPECT_EQ(plan.records.masters, records.masters);
  EXPECT_EQ(plan.keyring_id, kKeyringId);
  EXPECT_TRUE(plan.root_key_is_backups);
  EXPECT_EQ(plan.root_version, 1u);
  EXPECT_EQ(plan.root_fingerprint, RootKeyFingerprint(h.k0_1));
  EXPECT_FALSE(plan.changes_nothing);
  EXPECT_TRUE(plan.archived.empty());
  ExpectKeyring(plan.records, h.k0_1, {.active_version = 2, .masters = {{1, &h.k1_1}}});
}

TEST(PlanRestoreTest, EmptyDatabaseRevivesARetiredVersionValuesStillUse) {
  History h;
  KeyringRecords records = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  records.masters[0].state = MasterKeyState::kRetired;
  RestoreInput input;
  input.usage[1][kColumn] = 3;
  const RestorePlan plan = PlanOrFail(BackupOf(records, h.k0_1), input);
  EXPECT_EQ(Master(plan.records, 1)->state, MasterKeyState::kDecryptOnly);
  ExpectKeyring(plan.records, h.k0_1, {.masters = {{1, &h.k1_1}}});
}

TEST(PlanRestoreTest, BackupWhoseRootKeyIsUnknownHereIsRefused) {
  History h;
  const KeyringRecords here = NewKeyringRecords(h.k0_2, h.k1_1, kNow);  // same id, other K0
  ExpectRefused(PlanRestore(BackupOf(h.initial, h.k0_1), InputFor(here)), ErrorCode::kConflict,
                {"not in this database's root history", RootKeyFingerprint(h.k0_1),
                 RootKeyFingerprint(h.k0_2)});
}

TEST(PlanRestoreTest, DamagedBackupIsRefusedBeforeAnything) {
  History h;
  BackupContents backup = BackupOf(h.initial, h.k0_1);
  backup.root_key = h.k0_2;  // fingerprint no longer matches
  ExpectRefused(PlanRestore(backup, RestoreInput{}), ErrorCode::kCorruptValue,
                {"backup", RootKeyFingerprint(h.k0_1)});
  backup = BackupOf(h.initial, h.k0_1);
  backup.records.masters[0].k3 = Fernet::Create(h.k0_2)->Encrypt(h.k1_1);
  ExpectRefused(PlanRestore(backup, RestoreInput{}), ErrorCode::kCorruptValue,
                {"backup", "master key version 1 (K3) does not unwrap"});
}

// ---- Rule 3: the current root is kept --------------------------------------------------------

TEST(PlanRestoreTest, SameKeyringChangesNothing) {
  History h;
  for (const bool k0_at_hand : {true, false}) {
    RestoreInput input = InputFor(
        h.initial, k0_at_hand ? std::span<const uint8_t>(h.k0_1) : std::span<const uint8_t>());
    const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), input);
    EXPECT_TRUE(plan.changes_nothing);
    EXPECT_EQ(plan.records, h.initial);
    EXPECT_TRUE(plan.archived.empty());
    EXPECT_TRUE(plan.changes.empty());
    EXPECT_TRUE(plan.root_key_is_backups);
  }
}

TEST(PlanRestoreTest, RestoreAfterRotateMasterKeyKeepsTheNewerVersionActive) {
  History h;
  const BackupContents backup = BackupOf(h.initial, h.k0_1);  // version 1 active
  const KeyringRecords here = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  RestoreInput input = InputFor(here);
  input.usage[2][kColumn] = 10;  // --reencrypt moved every value to version 2
  const RestorePlan plan = PlanOrFail(backup, input);
  EXPECT_TRUE(plan.changes_nothing);
  EXPECT_EQ(plan.records, here);
  ExpectKeyring(plan.records, h.k0_1, {.active_version = 2});
}

TEST(PlanRestoreTest, MissingMasterVersionIsPutBackDecryptOnlyAndDecrypts) {
  History h;
  const KeyringRecords both = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  const KeyringRecords rotated = Must(RotateRootKey(both, h.k0_1, h.k0_2, kNow + 2));
  const BackupContents backup = BackupOf(rotated, h.k0_2);
  KeyringRecords here = rotated;
  here.masters.erase(here.masters.begin());  // version 1's row was lost
  RestoreInput input = InputFor(here, h.k0_2);
  input.usage[1][kColumn] = 4;
  const RestorePlan plan = PlanOrFail(backup, input);
  EXPECT_FALSE(plan.changes_nothing);
  ASSERT_NE(Master(plan.records, 1), nullptr);
  EXPECT_EQ(Master(plan.records, 1)->state, MasterKeyState::kDecryptOnly);
  EXPECT_EQ(Master(plan.records, 1)->root_version, 2u);
  EXPECT_EQ(Master(plan.records, 2)->state, MasterKeyState::kActive);
  EXPECT_TRUE(plan.root_key_is_backups);  // the backup's K0 is the current root
  ExpectKeyring(plan.records, h.k0_2,
                {.active_version = 2, .masters = {{1, &h.k1_1}, {2, &h.k1_2}}});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_THAT(plan.changes[0], HasSubstr("master version 1 put back (decrypt_only)"));
}

TEST(PlanRestoreTest, PutBackUnderTheOperatorsK0WhenTheBackupIsOfAnOlderRoot) {
  // The backup predates a rotate-k0 the operator still has the key of: the current root stays,
  // the missing master comes back wrapped under it.
  History h;
  const KeyringRecords both = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  const BackupContents backup = BackupOf(both, h.k0_1);
  KeyringRecords here = Must(RotateRootKey(both, h.k0_1, h.k0_2, kNow + 2));
  here.masters.erase(here.masters.begin());
  const RestorePlan plan = PlanOrFail(backup, InputFor(here, h.k0_2));
  EXPECT_FALSE(plan.root_key_is_backups);
  EXPECT_EQ(plan.root_version, 2u);
  EXPECT_EQ(plan.root_fingerprint, RootKeyFingerprint(h.k0_2));
  EXPECT_EQ(plan.records.roots, here.roots);  // root 1 is known by fingerprint: no second row
  ExpectKeyring(plan.records, h.k0_2, {.masters = {{1, &h.k1_1}}});
}

TEST(PlanRestoreTest, MissingRootVersionIsPutBackIntoTheHistory) {
  History h;
  KeyringRecords here = h.RootRotated();
  here.roots.erase(here.roots.begin());  // root version 1's row was lost
  const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), InputFor(here, h.k0_2));
  EXPECT_FALSE(plan.changes_nothing);
  ASSERT_EQ(plan.records.roots.size(), 2u);
  EXPECT_EQ(plan.records.roots[0].version, 1u);
  EXPECT_EQ(plan.records.roots[0].wrapped_by, 2u);
  const RootKeyCheck check = CheckRootKey(plan.records, h.k0_1);
  EXPECT_EQ(check.standing, RootKeyStanding::kOlder);
  EXPECT_EQ(check.version, 1u);
  Result<SecretBytes> k0_1 = Fernet::Create(h.k0_2)->Decrypt(*plan.records.roots[0].wrapped_key);
  ASSERT_TRUE(k0_1.ok());
  EXPECT_TRUE(SafeEquals(*k0_1, h.k0_1));
  EXPECT_TRUE(OpenOrFail(plan.records, h.k0_2));
}

TEST(PlanRestoreTest, RootKnownUnderAnotherVersionNumberIsNotAddedTwice) {
  // This database's history numbers the backup's K0 as version 2 (a diverged history): the
  // fingerprint identifies it, so nothing is put back and nothing conflicts.
  History h;
  const SecretBytes k0_first = RandomSecret(32);
  KeyringRecords here = NewKeyringRecords(k0_first, h.k1_1, kNow);
  here = Must(RotateRootKey(here, k0_first, h.k0_1, kNow + 1));
  here = Must(RotateRootKey(here, h.k0_1, h.k0_2, kNow + 2));
  const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), InputFor(here, h.k0_2));
  EXPECT_TRUE(plan.changes_nothing);
  EXPECT_EQ(plan.records, here);
  EXPECT_TRUE(plan.archived.empty());
}

TEST(PlanRestoreTest, ConflictingMasterKeyIsRefusedThenReplacedWithForce) {
  History h;
  const SecretBytes other_k1 = RandomSecret(32);
  const KeyringRecords theirs = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  const KeyringRecords here = Must(RotateMasterKey(h.initial, h.k0_1, other_k1, kNow + 1));
  const BackupContents backup = BackupOf(theirs, h.k0_1);
  RestoreInput input = InputFor(here, h.k0_1);
  ExpectRefused(PlanRestore(backup, input), ErrorCode::kConflict,
                {"master version 2", "different key", "the force option", "udmg_replaced_keys"});
  EXPECT_EQ(PlanRestore(backup, input).error().setting, kForce) << "the CLI names its flag";

  input.force = true;
  const RestorePlan plan = PlanOrFail(backup, input);
  ASSERT_EQ(plan.archived.size(), 1u);
  EXPECT_EQ(plan.archived[0].kind, "master");
  EXPECT_EQ(plan.archived[0].version, 2u);
  const nlohmann::json row = nlohmann::json::parse(plan.archived[0].row_json);
  EXPECT_EQ(row["k3"], Master(here, 2)->k3);
  EXPECT_EQ(row["state"], "active");
  ExpectNoKeyIn(plan.archived[0].row_json + plan.archived[0].reason, {&h.k0_1, &other_k1, &h.k1_2});
  // The database's state is kept: version 2 stays active.
  ExpectKeyring(plan.records, h.k0_1, {.active_version = 2, .masters = {{2, &h.k1_2}}});
  // The archived K3 still unwraps to the replaced key: recoverable.
  Result<SecretBytes> archived_k1 = Fernet::Create(h.k0_1)->Decrypt(row["k3"].get<std::string>());
  ASSERT_TRUE(archived_k1.ok());
  EXPECT_TRUE(SafeEquals(*archived_k1, other_k1));
}

TEST(PlanRestoreTest, MasterRowThatDoesNotUnwrapIsAFindingUnlessForced) {
  History h;
  KeyringRecords here = h.initial;
  here.masters[0].k3 = Fernet::Create(RandomSecret(32))->Encrypt(h.k1_1);
  RestoreInput input = InputFor(here, h.k0_1);
  ExpectRefused(PlanRestore(BackupOf(h.initial, h.k0_1), input), ErrorCode::kCorruptValue,
                {"master version 1 does not unwrap", RootKeyFingerprint(h.k0_1), "the force option"});
  input.force = true;
  const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), input);
  ASSERT_EQ(plan.archived.size(), 1u);
  EXPECT_THAT(plan.archived[0].reason, HasSubstr("did not unwrap"));
  ExpectKeyring(plan.records, h.k0_1, {.masters = {{1, &h.k1_1}}});
}

TEST(PlanRestoreTest, ConflictingHistoricalRootIsRefusedThenReplacedWithForce) {
  History h;
  KeyringRecords here = h.RootRotated();
  const SecretBytes stranger = RandomSecret(32);  // root 1's row now names another key
  here.roots[0].fingerprint = RootKeyFingerprint(stranger);
  here.roots[0].wrapped_key = Fernet::Create(h.k0_2)->Encrypt(stranger);
  RestoreInput input = InputFor(here, h.k0_2);
  ExpectRefused(PlanRestore(BackupOf(h.initial, h.k0_1), input), ErrorCode::kConflict,
                {"root version 1", RootKeyFingerprint(stranger), RootKeyFingerprint(h.k0_1)});
  input.force = true;
  const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), input);
  ASSERT_EQ(plan.archived.size(), 1u);
  EXPECT_EQ(plan.archived[0].kind, "root");
  EXPECT_EQ(CheckRootKey(plan.records, h.k0_1).standing, RootKeyStanding::kOlder);
  EXPECT_EQ(CheckRootKey(plan.records, stranger).standing, RootKeyStanding::kUnknown);
  ExpectNoKeyIn(plan.archived[0].row_json, {&stranger, &h.k0_1, &h.k0_2});
  EXPECT_TRUE(OpenOrFail(plan.records, h.k0_2));
}

TEST(PlanRestoreTest, NewerRootOfADivergedBackupIsLeftOutOnlyWithForce) {
  History h;
  const SecretBytes k0_other = RandomSecret(32);
  const BackupContents backup =
      BackupOf(Must(RotateRootKey(h.initial, h.k0_1, k0_other, kNow + 1)), k0_other);
  const KeyringRecords here = h.RootRotated();
  RestoreInput input = InputFor(here, h.k0_2);
  ExpectRefused(PlanRestore(backup, input), ErrorCode::kConflict,
                {"root version 2", RootKeyFingerprint(k0_other), RootKeyFingerprint(h.k0_2)});
  input.force = true;
  const RestorePlan plan = PlanOrFail(backup, input);
  EXPECT_EQ(plan.records, here);
  EXPECT_TRUE(plan.changes_nothing);
  EXPECT_FALSE(plan.root_key_is_backups);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_THAT(plan.changes[0], HasSubstr("left out"));
}

TEST(PlanRestoreTest, BackupsRetiredVersionComesBackRetiredUnlessValuesUseIt) {
  History h;
  KeyringRecords theirs = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  theirs.masters[0].state = MasterKeyState::kRetired;
  KeyringRecords here = theirs;
  here.masters.erase(here.masters.begin());
  here.masters[0].state = MasterKeyState::kActive;
  {
    const RestorePlan plan = PlanOrFail(BackupOf(theirs, h.k0_1), InputFor(here, h.k0_1));
    EXPECT_EQ(Master(plan.records, 1)->state, MasterKeyState::kRetired);
  }
  RestoreInput input = InputFor(here, h.k0_1);
  input.usage[1][kColumn] = 1;
  const RestorePlan plan = PlanOrFail(BackupOf(theirs, h.k0_1), input);
  EXPECT_EQ(Master(plan.records, 1)->state, MasterKeyState::kDecryptOnly);
}

TEST(PlanRestoreTest, RetiredVersionHereThatValuesUseBecomesDecryptOnly) {
  History h;
  KeyringRecords here = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  here.masters[0].state = MasterKeyState::kRetired;
  RestoreInput input = InputFor(here, h.k0_1);
  input.usage[1][kColumn] = 2;
  const RestorePlan plan = PlanOrFail(BackupOf(h.initial, h.k0_1), input);
  EXPECT_FALSE(plan.changes_nothing);
  EXPECT_EQ(Master(plan.records, 1)->state, MasterKeyState::kDecryptOnly);
  EXPECT_EQ(Master(plan.records, 2)->state, MasterKeyState::kActive);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_THAT(plan.changes[0], HasSubstr("credentials.secret: 2"));
  ExpectKeyring(plan.records, h.k0_1, {.masters = {{1, &h.k1_1}}});
}

// ---- Rule 4: the newer root key was lost -----------------------------------------------------

TEST(PlanRestoreTest, LostNewRootKeyRollsBackToTheBackupsRootWithForce) {
  History h;
  const KeyringRecords before = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  const BackupContents backup = BackupOf(before, h.k0_1);
  const KeyringRecords here = Must(RotateRootKey(before, h.k0_1, h.k0_2, kNow + 2));
  RestoreInput input = InputFor(here);  // the new K0 is lost: nothing at hand
  input.usage[1][kColumn] = 3;
  input.usage[2][kColumn] = 7;
  ExpectRefused(PlanRestore(backup, input), ErrorCode::kConflict,
                {"root version 1", "root version 2", RootKeyFingerprint(h.k0_2), "the force option",
                 "udmg_replaced_keys"});

  input.force = true;
  const RestorePlan plan = PlanOrFail(backup, input);
  EXPECT_TRUE(plan.root_key_is_backups);
  EXPECT_EQ(plan.root_version, 1u);
  EXPECT_EQ(plan.root_fingerprint, RootKeyFingerprint(h.k0_1));
  EXPECT_FALSE(plan.changes_nothing);
  EXPECT_EQ(plan.records.roots, before.roots);  // nothing newer
  ExpectKeyring(plan.records, h.k0_1,
                {.active_version = 2, .masters = {{1, &h.k1_1}, {2, &h.k1_2}}});

  // Every row of the lost branch is archived: both roots (2 set aside, 1 rewritten) and both K3s.
  int roots = 0, masters = 0;
  for (const ArchivedKeyRow& row : plan.archived) {
    (row.kind == "root" ? roots : masters)++;
    EXPECT_FALSE(row.reason.empty());
    EXPECT_FALSE(nlohmann::json::parse(row.row_json).is_discarded());
    ExpectNoKeyIn(row.row_json + row.reason, {&h.k0_1, &h.k0_2, &h.k1_1, &h.k1_2});
  }
  EXPECT_EQ(roots, 2);
  EXPECT_EQ(masters, 2);
  for (const std::string& change : plan.changes) {
    ExpectNoKeyIn(change, {&h.k0_1, &h.k0_2, &h.k1_1, &h.k1_2});
  }
}

// A forced restore of a backup of `h.initial` into a database that has since rotated K0 (the new
// K0 lost: nothing at hand) and then its master key: version 2, which the backup lacks.
RestoreInput ForcedInputWithAVersionTheBackupLacks(const History& h) {
  RestoreInput input = InputFor(Must(RotateMasterKey(h.RootRotated(), h.k0_2, h.k1_2, kNow + 2)));
  input.force = true;
  return input;
}

TEST(PlanRestoreTest, RollbackRefusesEvenWithForceWhenValuesUseAVersionTheBackupLacks) {
  History h;
  const BackupContents backup = BackupOf(h.initial, h.k0_1);
  RestoreInput input = ForcedInputWithAVersionTheBackupLacks(h);
  input.usage[2][kColumn] = 5;
  ExpectRefused(
      PlanRestore(backup, input), ErrorCode::kConflict,
      {"master version 2", "credentials.secret: 5", "root version 2", RootKeyFingerprint(h.k0_2)});
}

TEST(PlanRestoreTest, RollbackDropsAndArchivesAnUnusedVersionTheBackupLacks) {
  History h;
  const BackupContents backup = BackupOf(h.initial, h.k0_1);
  RestoreInput input = ForcedInputWithAVersionTheBackupLacks(h);
  input.usage[1][kColumn] = 5;
  const RestorePlan plan = PlanOrFail(backup, input);
  EXPECT_EQ(Master(plan.records, 2), nullptr);
  bool dropped = false;
  for (const ArchivedKeyRow& row : plan.archived) {
    if (row.kind == "master" && row.version == 2) {
      dropped = true;
      EXPECT_THAT(row.reason, HasSubstr("dropped"));
    }
  }
  EXPECT_TRUE(dropped);
  // The database's active version is gone: the backup's (1) is active.
  ExpectKeyring(plan.records, h.k0_1, {.active_version = 1, .masters = {{1, &h.k1_1}}});
}

TEST(PlanRestoreTest, RollbackKeepsTheDatabasesActiveVersionWhenTheBackupHoldsIt) {
  History h;
  KeyringRecords before = Must(RotateMasterKey(h.initial, h.k0_1, h.k1_2, kNow + 1));
  const BackupContents backup = BackupOf(before, h.k0_1);  // version 2 active there
  KeyringRecords here = Must(RotateRootKey(before, h.k0_1, h.k0_2, kNow + 2));
  here.masters[0].state = MasterKeyState::kActive;  // as if version 1 was made active again
  here.masters[1].state = MasterKeyState::kDecryptOnly;
  RestoreInput input = InputFor(here);
  input.force = true;
  const RestorePlan plan = PlanOrFail(backup, input);
  ExpectKeyring(plan.records, h.k0_1, {.active_version = 1, .masters = {{2, &h.k1_2}}});
}

// ---- PlanPrune -------------------------------------------------------------------------------

struct FourVersions {
  SecretBytes k0 = RandomSecret(32);
  KeyringRecords records;
  FourVersions() {
    records = NewKeyringRecords(k0, RandomSecret(32), kNow);
    for (int i = 0; i < 3; ++i)
      records = Must(RotateMasterKey(records, k0, RandomSecret(32), kNow));
    records.masters[0].state =
        MasterKeyState::kRetired;  // 1 retired, 2 and 3 decrypt_only, 4 active
  }
};

TEST(PlanPruneTest, RetiresOnlyUnusedDecryptOnlyVersions) {
  FourVersions f;
  VersionUsage usage;
  usage[3]["credentials.secret"] = 2;
  usage[3]["tokens.value"] = 0;
  usage[4]["credentials.secret"] = 9;
  usage[2]["tokens.value"] = 0;
  Result<PrunePlan> plan = PlanPrune(f.records, usage);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->retired, std::vector<uint32_t>{2});
  ASSERT_EQ(plan->still_used.size(), 1u);
  EXPECT_EQ(plan->still_used.at(3), (std::map<std::string, uint64_t>{{"credentials.secret", 2}}));
  EXPECT_EQ(Master(plan->records, 1)->state, MasterKeyState::kRetired);
  EXPECT_EQ(Master(plan->records, 2)->state, MasterKeyState::kRetired);
  EXPECT_EQ(Master(plan->records, 3)->state, MasterKeyState::kDecryptOnly);
  EXPECT_EQ(Master(plan->records, 4)->state, MasterKeyState::kActive);
  auto keyring = OpenOrFail(plan->records, f.k0);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->readable_versions(), (std::vector<uint32_t>{3, 4}));
}

TEST(PlanPruneTest, NothingToPruneLeavesTheKeyringAsItIs) {
  FourVersions f;
  VersionUsage usage;
  usage[2]["a.b"] = 1;
  usage[3]["a.b"] = 1;
  Result<PrunePlan> plan = PlanPrune(f.records, usage);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->retired.empty());
  EXPECT_EQ(plan->records, f.records);
  EXPECT_EQ(plan->still_used.size(), 2u);
}

TEST(PlanPruneTest, OnlyRestrictsPruningToTheNamedVersions) {
  FourVersions f;
  const std::vector<uint32_t> only = {3};
  Result<PrunePlan> plan = PlanPrune(f.records, {}, only);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->retired, std::vector<uint32_t>{3});
  EXPECT_EQ(Master(plan->records, 2)->state, MasterKeyState::kDecryptOnly);
  // An already retired version named in `only` is left alone.
  const std::vector<uint32_t> retired = {1};
  Result<PrunePlan> again = PlanPrune(f.records, {}, retired);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->retired.empty());
}

TEST(PlanPruneTest, NamedVersionStillInUseIsRefusedNamingColumnsAndCounts) {
  FourVersions f;
  VersionUsage usage;
  usage[3]["credentials.secret"] = 12;
  usage[3]["tokens.value"] = 1;
  const std::vector<uint32_t> only = {2, 3};
  Result<PrunePlan> plan = PlanPrune(f.records, usage, only);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kConflict);
  EXPECT_THAT(plan.error().message, HasSubstr("master version 3"));
  EXPECT_THAT(plan.error().message, HasSubstr("credentials.secret: 12, tokens.value: 1"));
  EXPECT_THAT(plan.error().message, HasSubstr("nothing was retired"));
}

TEST(PlanPruneTest, ActiveOrUnknownNamedVersionIsRefused) {
  FourVersions f;
  const std::vector<uint32_t> active = {4};
  Result<PrunePlan> plan = PlanPrune(f.records, {}, active);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kConflict);
  EXPECT_THAT(plan.error().message, HasSubstr("master version 4 is the active version"));
  const std::vector<uint32_t> unknown = {2, 9};
  plan = PlanPrune(f.records, {}, unknown);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(plan.error().message, HasSubstr("9"));
}

TEST(PlanRetireTest, RetiresTheVersionAndCountsWhatIsStillUnderIt) {
  FourVersions f;
  VersionUsage usage;
  usage[3]["credentials.secret"] = 12;
  usage[3]["tokens.value"] = 1;
  usage[2]["tokens.value"] = 0;
  Result<RetirePlan> used = PlanRetire(f.records, usage, 3);
  ASSERT_TRUE(used.ok()) << used.error().message;
  EXPECT_EQ(used->values, 13u);
  EXPECT_EQ(used->where, "credentials.secret: 12, tokens.value: 1");
  EXPECT_EQ(Master(used->records, 3)->state, MasterKeyState::kRetired);
  EXPECT_EQ(Master(used->records, 2)->state, MasterKeyState::kDecryptOnly);
  EXPECT_FALSE(used->already_retired);
  auto keyring = OpenOrFail(used->records, f.k0);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->readable_versions(), (std::vector<uint32_t>{2, 4}));
  EXPECT_TRUE(IsRetiredVersion(used->records, 3));

  Result<RetirePlan> unused = PlanRetire(f.records, usage, 2);
  ASSERT_TRUE(unused.ok());
  EXPECT_EQ(unused->values, 0u);
  EXPECT_EQ(unused->where, "");
  Result<RetirePlan> again = PlanRetire(f.records, usage, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_retired);
}

TEST(PlanRetireTest, TheActiveOrAnUnknownVersionIsRefused) {
  FourVersions f;
  Result<RetirePlan> active = PlanRetire(f.records, {}, 4);
  ASSERT_FALSE(active.ok());
  EXPECT_EQ(active.error().code, ErrorCode::kConflict);
  EXPECT_THAT(active.error().message, HasSubstr("master key version 4 is the active version"));
  Result<RetirePlan> unknown = PlanRetire(f.records, {}, 9);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(unknown.error().message, HasSubstr("no master key version 9"));
}

}  // namespace
}  // namespace udmg
