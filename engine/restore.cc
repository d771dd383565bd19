#include "engine/restore.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <utility>

#include "engine/fernet.h"
#include "engine/root_key.h"

namespace udmg {
namespace {

constexpr std::string_view kArchiveNote = "; the old rows stay in udmg_replaced_keys";

std::string Num(uint64_t value) { return std::to_string(value); }

// ---- Look-ups --------------------------------------------------------------------------------

template <typename Record>
void SortByVersion(std::vector<Record>& records) {
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.version < b.version; });
}

bool SameKeyring(const KeyringRecords& a, const KeyringRecords& b) {
  return a.roots == b.roots && a.masters == b.masters;
}

// ---- Usage -----------------------------------------------------------------------------------

uint64_t TotalUsage(const VersionUsage& usage, uint32_t version) {
  const auto it = usage.find(version);
  if (it == usage.end()) return 0;
  uint64_t total = 0;
  for (const auto& [column, count] : it->second) total += count;
  return total;
}

// The columns that hold values of `version`, as "credentials.secret: 12, t.c: 3".
std::string DescribeUsage(const VersionUsage& usage, uint32_t version) {
  std::string text;
  const auto it = usage.find(version);
  if (it == usage.end()) return text;
  for (const auto& [column, count] : it->second) {
    if (count == 0) continue;
    if (!text.empty()) text += ", ";
    text += column + ": " + Num(count);
  }
  return text;
}

std::map<std::string, uint64_t> UsedColumns(const VersionUsage& usage, uint32_t version) {
  std::map<std::string, uint64_t> columns;
  const auto it = usage.find(version);
  if (it == usage.end()) return columns;
  for (const auto& [column, count] : it->second) {
    if (count != 0) columns.emplace(column, count);
  }
  return columns;
}

std::string JoinLines(const std::vector<std::string>& parts, std::string_view separator) {
  std::string text;
  for (const std::string& part : parts) {
    if (!text.empty()) text += separator;
    text += part;
  }
  return text;
}

// ---- Archived rows (wrapped material only) ---------------------------------------------------

ArchivedKeyRow ArchiveRoot(const RootKeyRecord& root, std::string reason) {
  nlohmann::json row = {{"version", root.version},
                        {"fingerprint", root.fingerprint},
                        {"wrapped_key", nullptr},
                        {"wrapped_by", nullptr},
                        {"created_at", root.created_at}};
  if (root.wrapped_key) row["wrapped_key"] = *root.wrapped_key;
  if (root.wrapped_by) row["wrapped_by"] = *root.wrapped_by;
  return ArchivedKeyRow{"root", root.version, row.dump(), std::move(reason)};
}

ArchivedKeyRow ArchiveMaster(const MasterKeyRecord& master, std::string reason) {
  const nlohmann::json row = {{"version", master.version},
                              {"k3", master.k3},
                              {"root_version", master.root_version},
                              {"state", std::string(MasterKeyStateName(master.state))},
                              {"created_at", master.created_at}};
  return ArchivedKeyRow{"master", master.version, row.dump(), std::move(reason)};
}

// ---- Unwrapping ------------------------------------------------------------------------------

std::string Wrap(std::span<const uint8_t> k0, std::span<const uint8_t> key) {
  Result<Fernet> fernet = Fernet::Create(k0);
  return fernet.ok() ? fernet->Encrypt(key) : std::string();  // k0 is 32 bytes: checked on entry
}

// Keys unwrapped from the backup's records: a failure names the backup.
constexpr UnwrapContext kBackups{.whose = "the backup's ", .hint = ""};

// Every key of the backup, unwrapped once: K0 by root version, K1 by master version.
struct BackupKeys {
  std::map<uint32_t, SecretBytes> roots;
  std::map<uint32_t, SecretBytes> masters;
};

Error DamagedBackup(const std::string& what) {
  return Error{ErrorCode::kCorruptValue,
               "the backup's keyring is unusable (" + what +
                   "): the file was made by hand or by a faulty tool; use another backup"};
}

Result<BackupKeys> OpenBackupKeys(const BackupContents& backup) {
  if (backup.root_key.size() != kKeySize ||
      RootKeyFingerprint(backup.root_key) != backup.root_fingerprint) {
    return DamagedBackup("its root key does not match fingerprint " + backup.root_fingerprint);
  }
  const RootKeyRecord* current = CurrentRoot(backup.records);
  if (current == nullptr || current->version != backup.root_version ||
      current->fingerprint != backup.root_fingerprint) {
    return DamagedBackup("its current root version is not " + Num(backup.root_version));
  }
  BackupKeys keys;
  for (const RootKeyRecord& root : backup.records.roots) {
    Result<SecretBytes> k0 = RootKeyOf(backup.records, backup.root_key, root.version, kBackups);
    if (!k0.ok()) return DamagedBackup(k0.error().message);
    keys.roots.emplace(root.version, std::move(*k0));
  }
  for (const MasterKeyRecord& master : backup.records.masters) {
    Result<SecretBytes> k1 = UnwrapMasterKey(backup.records, backup.root_key, master, kBackups);
    if (!k1.ok()) return DamagedBackup(k1.error().message);
    keys.masters.emplace(master.version, std::move(*k1));
  }
  // The structure too (one active version, the current root the newest, ...). Keyring's advice
  // to restore from a backup does not apply to a backup itself.
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(backup.records, backup.root_key);
  if (!keyring.ok()) {
    const std::string& message = keyring.error().message;
    return DamagedBackup(message.substr(0, message.find(": restore the udmg_root_keys")));
  }
  return keys;
}

// ---- Shared finishing steps ------------------------------------------------------------------

// A retired version that stored values still use must be readable again.
void ReviveRetiredInUse(KeyringRecords& records, const VersionUsage& usage,
                        std::vector<std::string>& changes) {
  for (MasterKeyRecord& master : records.masters) {
    if (master.state != MasterKeyState::kRetired) continue;
    if (TotalUsage(usage, master.version) == 0) continue;
    master.state = MasterKeyState::kDecryptOnly;
    changes.push_back("master version " + Num(master.version) +
                      " is retired but stored values use it (" +
                      DescribeUsage(usage, master.version) + "): made decrypt_only again");
  }
}

// The result must open under the K0 that will be current: a last guard against a merge bug or a
// damaged row the backup cannot replace.
Status CheckOpens(const KeyringRecords& records, std::span<const uint8_t> k0) {
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
  return keyring.ok() ? Status::Ok() : Status(keyring.error());
}

// Rules 2 and 4: the backup's root becomes current, so its K0 is the one --write-key-file writes.
void MakeBackupsRootCurrent(const BackupContents& backup, RestorePlan& plan) {
  plan.root_version = backup.root_version;
  plan.root_fingerprint = backup.root_fingerprint;
  plan.root_key_is_backups = true;
  plan.changes_nothing = false;
}

std::string RootLabel(uint32_t version, std::string_view fingerprint) {
  return "root version " + Num(version) + " (fingerprint " + std::string(fingerprint) + ")";
}

// ---- Rule 2: an empty database takes the backup's keyring as it is ---------------------------

Result<RestorePlan> PlanIntoEmptyDatabase(const BackupContents& backup, const RestoreInput& input) {
  RestorePlan plan;
  plan.records = backup.records;
  plan.keyring_id = backup.keyring_id;
  MakeBackupsRootCurrent(backup, plan);
  std::vector<std::string> versions;
  for (const MasterKeyRecord& master : plan.records.masters) {
    versions.push_back(Num(master.version) + " (" + std::string(MasterKeyStateName(master.state)) +
                       ")");
  }
  plan.changes.push_back("keyring " + backup.keyring_id + " taken from the backup: " +
                         RootLabel(backup.root_version, backup.root_fingerprint) +
                         " current, master versions " + JoinLines(versions, ", "));
  ReviveRetiredInUse(plan.records, input.usage, plan.changes);
  UDMG_RETURN_IF_ERROR(CheckOpens(plan.records, backup.root_key));
  return plan;
}

// ---- Rule 3: the database's current root is kept ---------------------------------------------

class MergeUnderCurrentRoot {
 public:
  MergeUnderCurrentRoot(const BackupContents& backup, const BackupKeys& keys,
                        const RestoreInput& input, std::span<const uint8_t> k0_at_hand)
      : backup_(backup),
        keys_(keys),
        input_(input),
        current_(*input.current),
        k0_(k0_at_hand),
        current_root_(*CurrentRoot(current_)),
        result_(current_) {}

  Result<RestorePlan> Run() {
    MergeRoots();
    RewrapUnderReplacedRoots();
    MergeMasters();
    if (!damaged_.empty()) {
      return Error{ErrorCode::kCorruptValue,
                   "this database's " + JoinLines(damaged_, ", ") + " under " +
                       RootLabel(current_root_.version, current_root_.fingerprint) +
                       ": run again with the force option to put the backup's rows in their "
                       "place" +
                       std::string(kArchiveNote),
                   std::string(kForce)};
    }
    if (!conflicts_.empty()) {
      return Error{ErrorCode::kConflict,
                   "the backup conflicts with this database: " + JoinLines(conflicts_, "; ") +
                       ": run again with the force option to settle each as said" +
                       std::string(kArchiveNote),
                   std::string(kForce)};
    }
    ReviveRetiredInUse(result_, input_.usage, plan_.changes);
    SortByVersion(result_.roots);
    SortByVersion(result_.masters);
    UDMG_RETURN_IF_ERROR(CheckOpens(result_, k0_));
    plan_.changes_nothing = SameKeyring(result_, current_);
    plan_.records = std::move(result_);
    plan_.keyring_id = input_.current_keyring_id;
    plan_.root_version = current_root_.version;
    plan_.root_fingerprint = current_root_.fingerprint;
    plan_.root_key_is_backups = backup_.root_fingerprint == current_root_.fingerprint;
    return std::move(plan_);
  }

 private:
  void MergeRoots() {
    for (const RootKeyRecord& theirs : backup_.records.roots) {
      if (FindRootByFingerprint(current_, theirs.fingerprint) != nullptr) continue;  // known here
      const RootKeyRecord* ours = FindRoot(current_, theirs.version);
      if (theirs.version >= current_root_.version) {
        LeaveOutRoot(theirs, ours);
      } else if (ours == nullptr) {
        result_.roots.push_back(WrappedHere(theirs));
        plan_.changes.push_back(RootLabel(theirs.version, theirs.fingerprint) +
                                " put back into the root history, wrapped under root version " +
                                Num(current_root_.version));
      } else if (!input_.force) {
        conflicts_.push_back("root version " + Num(theirs.version) + " has fingerprint " +
                             ours->fingerprint + " here and " + theirs.fingerprint +
                             " in the backup (the force option takes the backup's)");
      } else {
        plan_.archived.push_back(
            ArchiveRoot(*ours, "replaced by the backup's " +
                                   RootLabel(theirs.version, theirs.fingerprint) + " (by the force option)"));
        replaced_roots_.insert(theirs.version);
        for (RootKeyRecord& row : result_.roots) {
          if (row.version == theirs.version) row = WrappedHere(theirs);
        }
        plan_.changes.push_back("root version " + Num(theirs.version) + " (fingerprint " +
                                ours->fingerprint + ") replaced by the backup's (fingerprint " +
                                theirs.fingerprint + ")");
      }
    }
  }

  // A backup root at or above the current version cannot join the history: the current root
  // must stay the newest, and it stays current because its K0 is the one at hand.
  void LeaveOutRoot(const RootKeyRecord& theirs, const RootKeyRecord* ours) {
    const std::string label = "the backup's " + RootLabel(theirs.version, theirs.fingerprint);
    const std::string why =
        ours != nullptr ? " differs from this database's current root version " +
                              Num(ours->version) + " (fingerprint " + ours->fingerprint + ")"
                        : " is newer than this database's current " +
                              RootLabel(current_root_.version, current_root_.fingerprint);
    if (!input_.force) {
      conflicts_.push_back(label + why + " (the force option leaves it out of the root history)");
      return;
    }
    plan_.changes.push_back(label + " left out of the root history (by the force option): it" + why +
                            ", which stays current");
  }

  // The backup's K0 of `theirs`, wrapped under the K0 at hand as a historical row.
  RootKeyRecord WrappedHere(const RootKeyRecord& theirs) const {
    return RootKeyRecord{theirs.version, theirs.fingerprint,
                         Wrap(k0_, keys_.roots.at(theirs.version)), current_root_.version,
                         theirs.created_at};
  }

  // A master row wrapped under a root row that was just replaced must be rewrapped under the
  // current root (same K1): its old root key is no longer in the history.
  void RewrapUnderReplacedRoots() {
    for (MasterKeyRecord& master : result_.masters) {
      if (!replaced_roots_.count(master.root_version)) continue;
      Result<SecretBytes> k1 = UnwrapMasterKey(current_, k0_, master);
      if (!k1.ok()) continue;  // reported (or replaced) by MergeMasters / CheckOpens
      master.k3 = Wrap(k0_, *k1);
      plan_.changes.push_back("master version " + Num(master.version) +
                              " rewrapped from root version " + Num(master.root_version) +
                              " to root version " + Num(current_root_.version));
      master.root_version = current_root_.version;
    }
  }

  void MergeMasters() {
    for (const MasterKeyRecord& theirs : backup_.records.masters) {
      const SecretBytes& their_k1 = keys_.masters.at(theirs.version);
      const MasterKeyRecord* ours = FindMaster(current_, theirs.version);
      if (ours == nullptr) {
        PutBackMaster(theirs, their_k1);
        continue;
      }
      Result<SecretBytes> our_k1 = UnwrapMasterKey(current_, k0_, *ours);
      if (our_k1.ok() && SafeEquals(*our_k1, their_k1)) continue;  // the same key: keep ours
      const std::string version = "master version " + Num(theirs.version);
      if (!input_.force) {
        if (!our_k1.ok())
          damaged_.push_back(version + " does not unwrap");
        else
          conflicts_.push_back(version +
                               " holds a different key here than in the backup "
                               "(the force option takes the backup's)");
        continue;
      }
      const std::string why = our_k1.ok() ? "it held a different key" : "it did not unwrap";
      plan_.archived.push_back(
          ArchiveMaster(*ours, "replaced by the backup's " + version + " (by the force option): " + why));
      MasterKeyRecord& row = *FindMaster(result_, theirs.version);
      row = MasterKeyRecord{theirs.version, Wrap(k0_, their_k1), current_root_.version, ours->state,
                            theirs.created_at};
      plan_.changes.push_back(version + " replaced by the backup's (" + why +
                              "), wrapped under root version " + Num(current_root_.version));
    }
  }

  // Never a second active version: a put-back version is decrypt_only, or retired when the backup
  // had it retired and no value uses it.
  void PutBackMaster(const MasterKeyRecord& theirs, const SecretBytes& their_k1) {
    const bool stays_retired =
        theirs.state == MasterKeyState::kRetired && TotalUsage(input_.usage, theirs.version) == 0;
    const MasterKeyState state =
        stays_retired ? MasterKeyState::kRetired : MasterKeyState::kDecryptOnly;
    result_.masters.push_back(MasterKeyRecord{theirs.version, Wrap(k0_, their_k1),
                                              current_root_.version, state, theirs.created_at});
    plan_.changes.push_back("master version " + Num(theirs.version) + " put back (" +
                            std::string(MasterKeyStateName(state)) +
                            "), wrapped under root version " + Num(current_root_.version));
  }

  const BackupContents& backup_;
  const BackupKeys& keys_;
  const RestoreInput& input_;
  const KeyringRecords& current_;
  const std::span<const uint8_t> k0_;
  const RootKeyRecord current_root_;
  KeyringRecords result_;
  RestorePlan plan_;
  std::set<uint32_t> replaced_roots_;
  std::vector<std::string> conflicts_;
  std::vector<std::string> damaged_;
};

// ---- Rule 4: the backup's older root becomes current again -----------------------------------

Result<RestorePlan> PlanRollback(const BackupContents& backup, const RestoreInput& input,
                                 uint32_t backup_root_here) {
  const KeyringRecords& current = *input.current;
  const RootKeyRecord& current_root = *CurrentRoot(current);

  // Values on a master version the backup lacks need the lost key: no flag helps.
  std::vector<std::string> unrecoverable;
  for (const MasterKeyRecord& ours : current.masters) {
    if (FindMaster(backup.records, ours.version) != nullptr) continue;
    if (TotalUsage(input.usage, ours.version) == 0) continue;
    const RootKeyRecord* root = FindRoot(current, ours.root_version);
    unrecoverable.push_back("master version " + Num(ours.version) + " (" +
                            DescribeUsage(input.usage, ours.version) + ") needs " +
                            RootLabel(ours.root_version, root ? root->fingerprint : "unknown"));
  }
  if (!unrecoverable.empty()) {
    return Error{ErrorCode::kConflict,
                 "stored values use master versions this backup does not hold: " +
                     JoinLines(unrecoverable, "; ") +
                     ": set UDMG_SECURITY_PASSPHRASE_KEY to that root key and run again, or "
                     "restore a newer backup"};
  }

  std::vector<std::string> newer;
  for (const RootKeyRecord& ours : current.roots) {
    if (ours.version > backup_root_here) newer.push_back(RootLabel(ours.version, ours.fingerprint));
  }
  if (!input.force) {
    return Error{ErrorCode::kConflict,
                 "this backup's root key is " +
                     RootLabel(backup_root_here, backup.root_fingerprint) +
                     " of this database, older than the current " +
                     RootLabel(current_root.version, current_root.fingerprint) +
                     ", whose key is not at hand: run again with the force option to make root "
                     "version " +
                     Num(backup_root_here) + " current again and set " + JoinLines(newer, ", ") +
                     " aside (their rows stay in udmg_replaced_keys), or set "
                     "UDMG_SECURITY_PASSPHRASE_KEY to the current root key to merge instead",
                 std::string(kForce)};
  }

  RestorePlan plan;
  plan.records = backup.records;
  plan.records.revision = current.revision;
  for (const RootKeyRecord& ours : current.roots) {
    const RootKeyRecord* theirs = FindRoot(backup.records, ours.version);
    if (theirs != nullptr && *theirs == ours) continue;
    const std::string reason =
        ours.version > backup_root_here
            ? "set aside (by the force option): newer than the backup's root version " +
                  Num(backup.root_version) + ", whose successor's key was lost"
            : "replaced by the backup's root version " + Num(ours.version) +
                  " (by the force option): root version " + Num(backup.root_version) +
                  " is current again";
    plan.archived.push_back(ArchiveRoot(ours, reason));
  }
  plan.changes.push_back(RootLabel(backup.root_version, backup.root_fingerprint) +
                         " is current again; set aside: " + JoinLines(newer, ", "));

  for (const MasterKeyRecord& ours : current.masters) {
    const MasterKeyRecord* theirs = FindMaster(backup.records, ours.version);
    if (theirs == nullptr) {
      const RootKeyRecord* root = FindRoot(current, ours.root_version);
      plan.archived.push_back(ArchiveMaster(
          ours, "dropped (by the force option): not in the backup and no stored value uses it; its "
                "key needs " +
                    RootLabel(ours.root_version, root ? root->fingerprint : "unknown")));
      plan.changes.push_back("master version " + Num(ours.version) +
                             " dropped: not in the backup, no stored value uses it");
    } else if (!(*theirs == ours)) {
      plan.archived.push_back(ArchiveMaster(
          ours, "replaced by the backup's master version " + Num(ours.version) +
                    " (by the force option): wrapped under root version " +
                    Num(backup.root_version)));
    }
  }
  for (const MasterKeyRecord& theirs : backup.records.masters) {
    if (FindMaster(current, theirs.version) == nullptr) {
      plan.changes.push_back("master version " + Num(theirs.version) + " put back from the backup");
    }
  }

  // The database's active version stays active when the backup holds it.
  const auto our_active =
      std::find_if(current.masters.begin(), current.masters.end(),
                   [](const MasterKeyRecord& m) { return m.state == MasterKeyState::kActive; });
  if (our_active != current.masters.end()) {
    if (MasterKeyRecord* kept = FindMaster(plan.records, our_active->version)) {
      for (MasterKeyRecord& master : plan.records.masters) {
        if (master.state == MasterKeyState::kActive) master.state = MasterKeyState::kDecryptOnly;
      }
      kept->state = MasterKeyState::kActive;
    }
  }
  ReviveRetiredInUse(plan.records, input.usage, plan.changes);
  UDMG_RETURN_IF_ERROR(CheckOpens(plan.records, backup.root_key));
  plan.keyring_id = input.current_keyring_id;
  MakeBackupsRootCurrent(backup, plan);
  return plan;
}

}  // namespace

Result<RestorePlan> PlanRestore(const BackupContents& backup, const RestoreInput& input) {
  const bool has_keyring = input.current.has_value() && !input.current->roots.empty();
  // 1. Another database's backup: its keys have nothing to do with these values.
  if (has_keyring && input.current_keyring_id != backup.keyring_id) {
    return Error{ErrorCode::kConflict, "this backup is of another database (keyring " +
                                           backup.keyring_id + ", this one is " +
                                           input.current_keyring_id +
                                           "): use a backup taken from this database"};
  }
  UDMG_ASSIGN_OR_RETURN(const BackupKeys keys, OpenBackupKeys(backup));
  // 2. No keyring here.
  if (!has_keyring) return PlanIntoEmptyDatabase(backup, input);

  const KeyringRecords& current = *input.current;
  const RootKeyRecord* current_root = CurrentRoot(current);
  if (current_root == nullptr) {
    return Error{ErrorCode::kCorruptValue,
                 "this database's keyring has no current root version: restore the "
                 "udmg_root_keys and udmg_master_keys tables from a database backup"};
  }
  // 3. The current root's K0 is at hand: merge under it.
  if (!input.current_k0.empty() && input.current_k0.size() == kKeySize &&
      RootKeyFingerprint(input.current_k0) == current_root->fingerprint) {
    return MergeUnderCurrentRoot(backup, keys, input, input.current_k0).Run();
  }
  if (backup.root_fingerprint == current_root->fingerprint) {
    return MergeUnderCurrentRoot(backup, keys, input, backup.root_key).Run();
  }
  // 4. The backup's K0 is an older root here: the newer one was lost.
  const RootKeyCheck check = CheckRootKey(current, backup.root_key);
  if (check.standing == RootKeyStanding::kOlder && check.version) {
    return PlanRollback(backup, input, *check.version);
  }
  // 5. Neither key fits this database.
  return Error{ErrorCode::kConflict,
               "the backup's " + RootLabel(backup.root_version, backup.root_fingerprint) +
                   " is not in this database's root history, whose current is " +
                   RootLabel(current_root->version, current_root->fingerprint) +
                   ": set UDMG_SECURITY_PASSPHRASE_KEY to the current root key and run again, or "
                   "use a backup taken from this database"};
}

Result<PrunePlan> PlanPrune(const KeyringRecords& records, const VersionUsage& usage,
                            std::span<const uint32_t> only) {
  const std::set<uint32_t> wanted(only.begin(), only.end());
  std::vector<std::string> unknown, active;
  for (uint32_t version : wanted) {
    const MasterKeyRecord* master = FindMaster(records, version);
    if (master == nullptr)
      unknown.push_back(Num(version));
    else if (master->state == MasterKeyState::kActive)
      active.push_back(Num(version));
  }
  if (!unknown.empty()) {
    return Error{ErrorCode::kNotFound, "no master version " + JoinLines(unknown, ", ") +
                                           " in this keyring: run `udmg-server status` to list "
                                           "the versions"};
  }
  if (!active.empty()) {
    return Error{ErrorCode::kConflict,
                 "master version " + active.front() +
                     " is the active version and cannot be retired: run rotate-master-key and "
                     "migrate its values first"};
  }

  PrunePlan plan;
  plan.records = records;
  for (MasterKeyRecord& master : plan.records.masters) {
    if (master.state != MasterKeyState::kDecryptOnly) continue;
    if (!wanted.empty() && !wanted.count(master.version)) continue;
    std::map<std::string, uint64_t> columns = UsedColumns(usage, master.version);
    if (columns.empty()) {
      master.state = MasterKeyState::kRetired;
      plan.retired.push_back(master.version);
    } else {
      plan.still_used.emplace(master.version, std::move(columns));
    }
  }
  if (!wanted.empty() && !plan.still_used.empty()) {
    std::vector<std::string> used;
    for (const auto& [version, columns] : plan.still_used) {
      used.push_back("master version " + Num(version) + " (" + DescribeUsage(usage, version) + ")");
    }
    return Error{ErrorCode::kConflict,
                 "stored values still use " + JoinLines(used, "; ") +
                     ": nothing was retired; run `udmg-server reencrypt` (or `sweep`) until none "
                     "is left, then prune again"};
  }
  return plan;
}

Result<RetirePlan> PlanRetire(const KeyringRecords& records, const VersionUsage& usage,
                              uint32_t version) {
  RetirePlan plan;
  plan.records = records;
  MasterKeyRecord* master = FindMaster(plan.records, version);
  if (master == nullptr) {
    return Error{ErrorCode::kNotFound, "no master key version " + Num(version) +
                                           " in this keyring: run `udmg-server status` to list "
                                           "the versions"};
  }
  if (master->state == MasterKeyState::kActive) {
    return Error{ErrorCode::kConflict, "master key version " + Num(version) +
                                           " is the active version: another version must be "
                                           "made active before it is retired"};
  }
  plan.already_retired = master->state == MasterKeyState::kRetired;
  master->state = MasterKeyState::kRetired;
  plan.values = TotalUsage(usage, version);
  plan.where = DescribeUsage(usage, version);
  return plan;
}

}  // namespace udmg
