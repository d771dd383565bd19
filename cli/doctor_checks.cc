#include "cli/doctor_checks.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "base/time_text.h"
#include "cli/key_input.h"
#include "cli/root_key_source.h"
#include "cli/setting_flags.h"
#include "cli/token_access.h"
#include "engine/root_key.h"
#include "engine/sealed_root_key.h"
#include "hsm/pkcs11_token.h"
#include "pipeline/key_policy.h"
#include "pipeline/node_presence.h"
#include "pipeline/reencrypt.h"

namespace udmg::cli {
namespace {

constexpr char kBackupFix[] =
    "take one now: udmg-server passphrase-backup --output PATH, and keep the file and its "
    "passphrase apart (docs/disaster-recovery.md)";
constexpr char kRestoreFix[] =
    "restore the keyring from a backup: udmg-server passphrase-restore --input PATH "
    "(docs/disaster-recovery.md)";

std::string Version(uint32_t version) { return "v" + std::to_string(version); }

std::string CurrentRootText(const KeyringRecords& keyring) {
  const RootKeyRecord* current = CurrentRoot(keyring);
  return current == nullptr ? "none"
                            : Version(current->version) + " (fingerprint " +
                                  current->fingerprint + ")";
}

class DoctorRun {
 public:
  explicit DoctorRun(const GlobalOptions& global) : global_(global) {}

  std::vector<Finding> Run() {
    Result<std::unique_ptr<db::Store>> store = OpenMigratedStore(global_);
    if (!store.ok() && store.error().code == ErrorCode::kNotInitialized) {
      // Nothing there yet (a new path, an empty schema): what is missing is the keyring.
      Add("keyring", FindingStatus::kProblem, NameFlag(store.error().message, store.error().setting),
          "run `udmg-server init` once, with this node's root key exported (or check --db)");
      return std::move(findings_);
    }
    if (!store.ok()) {
      Add("database", FindingStatus::kProblem, NameFlag(store.error().message, store.error().setting),
          "check --db / UDMG_DATABASE_URL and that the database is up, then run doctor again");
      return std::move(findings_);
    }
    store_ = std::move(*store);
    Result<std::optional<KeyringRecords>> keyring = store_->LoadKeyring();
    if (!keyring.ok()) {
      Add("database", FindingStatus::kProblem, keyring.error().message,
          "check the database and its permissions, then run doctor again");
      return std::move(findings_);
    }
    Add("database", FindingStatus::kOk, store_->Describe() + " is reachable" + AccessNote());
    std::optional<SecretBytes> k0 = CheckRootKeyEnv();
    if (!*keyring) {
      Add("keyring", FindingStatus::kProblem, "the database has no keyring",
          "run `udmg-server init` once, with this node's root key exported");
      return std::move(findings_);
    }
    keyring_ = std::move(**keyring);
    RecordThisNode(k0);
    bool key_is_current = k0 && CheckRootKeyVersion(*k0);
    if (key_is_current) CheckMasterKeys(*k0);
    std::map<std::string, db::ValueCounts> counts = CheckColumns();
    CheckBackup();
    CheckNodes();
    CheckValues(counts);
    CheckJobs();
    CheckCryptoperiods();
    return std::move(findings_);
  }

 private:
  void Add(std::string check, FindingStatus status, std::string message, std::string fix = "") {
    findings_.push_back({std::move(check), status, std::move(message), std::move(fix)});
  }

  // Exactly one source, readable, well-formed; the message names the source and gives at most
  // the length found, never the value.
  std::optional<SecretBytes> CheckRootKeyEnv() {
    const std::string fix = "give this node's root key (64 hex characters) in exactly one of " +
                            RootKeySourceChoices();
    Result<std::optional<RootKeyText>> text = ReadRootKeyText();
    if (!text.ok()) {
      Add("root_key_env", FindingStatus::kProblem, text.error().message, fix);
      return std::nullopt;
    }
    if (!*text) {
      Add("root_key_env", FindingStatus::kProblem, "the root key is not set on this node", fix);
      return std::nullopt;
    }
    Result<SecretBytes> k0 = RootKeyFromText(AsText((*text)->text), (*text)->source);
    if (!k0.ok()) {
      Add("root_key_env", FindingStatus::kProblem, k0.error().message,
          "set " + (*text)->source + " to the current root key, exactly 64 hex characters");
      return std::nullopt;
    }
    Add("root_key_env", FindingStatus::kOk,
        "the root key comes from " + (*text)->source + " and is well-formed");
    CheckRootKeySeal(AsText((*text)->text));
    return std::move(*k0);
  }

  // Plain or sealed; for a key that unsealed, where its wrapping key is and whether that key
  // stays in the token (CKA_EXTRACTABLE false, CKA_SENSITIVE true): the seal is only as strong.
  void CheckRootKeySeal(std::string_view text) {
    if (!LooksSealed(text)) {
      Add("root_key_seal", FindingStatus::kOk,
          "the root key is plain, not sealed by a PKCS#11 token (docs/hsm.md)");
      return;
    }
    Result<SealedRootKey> sealed = ParseSealedRootKey(text, "the root key");
    Result<hsm::TokenAccess> access = TokenAccessFromEnvironment();
    Result<hsm::WrappingKeyFacts> facts =
        !sealed.ok()   ? Result<hsm::WrappingKeyFacts>(sealed.error())
        : !access.ok() ? Result<hsm::WrappingKeyFacts>(access.error())
                       : hsm::DescribeWrappingKey(*access, sealed->token_label, sealed->key_label);
    if (!facts.ok()) {
      Add("root_key_seal", FindingStatus::kProblem, facts.error().message);
      return;
    }
    const std::string where = "the root key is sealed by key '" + sealed->key_label +
                              "' on token '" + sealed->token_label + "' of " +
                              facts->module_description;
    std::string weak;
    if (facts->extractable) weak = "CKA_EXTRACTABLE is true";
    if (!facts->sensitive) weak += std::string(weak.empty() ? "" : ", ") + "CKA_SENSITIVE is false";
    if (weak.empty()) {
      Add("root_key_seal", FindingStatus::kOk, where + " (not extractable, sensitive)");
      return;
    }
    Add("root_key_seal", FindingStatus::kWarning,
        where + ": that key can leave the token (" + weak + ")",
        "create a sensitive, non-extractable wrapping key, seal the root key with it (seal-k0) "
        "and roll it out node by node (docs/hsm.md)");
  }

  // What a read-only session means for this report (docs/postgres.md, "Read-only sessions").
  std::string AccessNote() const {
    db::SessionAccess access = store_->Access();
    if (access.standby) {
      return " (a hot standby: read-only, and it may lag behind the primary; this node is not "
             "recorded in udmg_nodes)";
    }
    if (access.read_only) return " (read-only session: this node is not recorded in udmg_nodes)";
    return "";
  }

  // As every process that opens the keyring does, even with a missing or wrong K0.
  void RecordThisNode(const std::optional<SecretBytes>& k0) {
    Result<pipeline::NodeIdentity> self = pipeline::ThisNode(global_.program);
    Status recorded = self.ok() ? pipeline::RecordThisNode(
                                      *store_, *self, keyring_,
                                      k0 ? std::span<const uint8_t>(*k0)
                                         : std::span<const uint8_t>(),
                                      NowSeconds())
                                : self.status();
    if (self.ok()) self_id_ = self->node_id;
    if (!recorded.ok()) {
      Add("nodes", FindingStatus::kWarning,
          "this node could not be recorded in udmg_nodes: " + recorded.message(),
          self.ok() ? "check the database (doctor's other checks still ran)"
                    : "fix " + std::string(pipeline::kNodeIdEnv) + " or unset it");
    }
  }

  bool CheckRootKeyVersion(const SecretBytes& k0) {
    RootKeyCheck check = CheckRootKey(keyring_, k0);
    const std::string fix = "set " + std::string(kRootKeyEnv) +
                            " on this node to the current root key (fingerprint " +
                            check.current_fingerprint +
                            ") and restart; if that key is lost, see docs/disaster-recovery.md";
    switch (check.standing) {
      case RootKeyStanding::kCurrent:
        Add("root_key_version", FindingStatus::kOk,
            "this node's root key is the current version " + Version(*check.version) +
                " (fingerprint " + check.fingerprint + ")");
        return true;
      case RootKeyStanding::kOlder:
        Add("root_key_version", FindingStatus::kProblem,
            "this node's root key is the older version " + Version(*check.version) +
                "; the current one is " + CurrentRootText(keyring_),
            fix);
        return false;
      case RootKeyStanding::kUnknown:
        break;
    }
    Add("root_key_version", FindingStatus::kProblem,
        "this node's root key (fingerprint " + check.fingerprint +
            ") matches no root version of this database; the current one is " +
            CurrentRootText(keyring_),
        fix);
    return false;
  }

  // Every K3 unwraps under the current K0 into a 32-byte master key.
  void CheckMasterKeys(const SecretBytes& k0) {
    const uint32_t current = CurrentRoot(keyring_)->version;
    std::vector<std::string> checked;
    size_t bad = 0;
    for (const MasterKeyRecord& master : keyring_.masters) {
      std::string name = "master version " + Version(master.version) + " (" +
                         std::string(MasterKeyStateName(master.state)) + ")";
      std::string wrong;
      if (master.root_version != current) {
        wrong = name + " is wrapped by root " + Version(master.root_version) +
                ", not by the current root " + Version(current);
      } else {
        if (!UnwrapMasterKey(keyring_, k0, master).ok()) {
          wrong = name + ": its K3 does not unwrap under the current root key";
        }
      }
      if (wrong.empty()) {
        checked.push_back(Version(master.version));
        continue;
      }
      ++bad;
      Add("master_keys", FindingStatus::kProblem, wrong, kRestoreFix);
    }
    if (bad == 0) {
      std::string list;
      for (const std::string& version : checked) list += (list.empty() ? "" : ", ") + version;
      Add("master_keys", FindingStatus::kOk, "every master version unwraps (" + list + ")");
    }
  }

  // Each registered column is read once (value counts, and one row in key order, which needs the
  // key column): a dropped table or column fails here. Returns the counts of those that exist.
  std::map<std::string, db::ValueCounts> CheckColumns() {
    std::map<std::string, db::ValueCounts> counts;
    Result<std::vector<db::ColumnRef>> columns = store_->ListColumns();
    if (!columns.ok()) {
      Add("columns", FindingStatus::kProblem, columns.error().message,
          "check the database, then run doctor again");
      return counts;
    }
    size_t missing = 0;
    for (const db::ColumnRef& column : *columns) {
      Result<db::ValueCounts> counted = store_->CountValues(column);
      Status readable = counted.status();
      if (readable.ok()) readable = store_->FetchValues(column, std::nullopt, 1).status();
      if (readable.ok() && !EveryRowVisible(column)) continue;
      if (readable.ok()) {
        counts[column.Name()] = std::move(*counted);
        if (column.bound()) bound_columns_.insert(column.Name());
        continue;
      }
      ++missing;
      Add("columns", FindingStatus::kProblem,
          "registered column " + column.Name() + " (key " + column.key_column +
              ") cannot be read: " + readable.message(),
          "recreate the table from your database backup, or unregister it: udmg-server "
          "columns remove " + column.Name());
    }
    if (missing == 0) {
      Add("columns", FindingStatus::kOk,
          std::to_string(columns->size()) + " registered column(s), every one exists");
    }
    return counts;
  }

  // A table whose rows the role may not see gives counts that say nothing about the hidden rows:
  // they are left out (no "every value is on the active version" over half a table).
  bool EveryRowVisible(const db::ColumnRef& column) {
    Status visible = db::RequireEveryRowVisible(*store_, {column},
                                                "its values are left out of this report");
    if (visible.ok()) return true;
    Add("columns", FindingStatus::kProblem, visible.message(),
        "give udmg-server a role that sees every row (BYPASSRLS, or the table's owner), then run "
        "doctor again");
    return false;
  }

  // The newest backup must hold the keyring as it is: taken under the current root key and at the
  // current keyring revision (every rotation, restore or prune bumps it, even within the second).
  void CheckBackup() {
    Result<std::optional<db::BackupRecord>> latest = store_->LatestBackup();
    if (!latest.ok()) {
      Add("backup", FindingStatus::kProblem, latest.error().message, "check the database");
      return;
    }
    if (!*latest) {
      Add("backup", FindingStatus::kProblem,
          "no keyring backup was ever recorded: if the root key is lost, every value is lost",
          kBackupFix);
      return;
    }
    const db::BackupRecord& backup = **latest;
    const RootKeyRecord* current = CurrentRoot(keyring_);
    bool other_root = current != nullptr && current->fingerprint != backup.root_fingerprint;
    std::string when = "the last backup (" + UtcText(backup.taken_at) + ", root " +
                       Version(backup.root_version) + ")";
    if (keyring_.revision <= backup.keyring_revision && !other_root) {
      Add("backup", FindingStatus::kOk, when + " holds the keyring as it is");
      return;
    }
    // Versions created since, by time (one created within the backup's second goes unnamed).
    std::string what;
    for (const RootKeyRecord& root : keyring_.roots) {
      if (root.created_at > backup.taken_at) {
        what += (what.empty() ? "" : ", ") + ("root " + Version(root.version));
      }
    }
    for (const MasterKeyRecord& master : keyring_.masters) {
      if (master.created_at > backup.taken_at) {
        what += (what.empty() ? "" : ", ") + ("master " + Version(master.version));
      }
    }
    if (what.empty()) {
      what = other_root ? "the current root " + CurrentRootText(keyring_)
                        : "the keyring as it is now (revision " +
                              std::to_string(keyring_.revision) + ", backup at revision " +
                              std::to_string(backup.keyring_revision) + ")";
    }
    Add("backup", FindingStatus::kProblem,
        when + " predates the last keyring change: it cannot restore " + what, kBackupFix);
  }

  void CheckNodes() {
    Result<std::vector<db::NodeRecord>> nodes = store_->ListNodes();
    if (!nodes.ok()) {
      Add("nodes", FindingStatus::kProblem, nodes.error().message, "check the database");
      return;
    }
    size_t others = 0;
    size_t stale = 0;
    for (const pipeline::NodeAssessment& node :
         pipeline::AssessNodes(*nodes, keyring_, NowSeconds())) {
      if (node.node.node_id == self_id_) continue;  // this node: see root_key_version
      ++others;
      if (node.standing == pipeline::NodeKeyStanding::kCurrent) continue;
      const std::string fix = "set " + std::string(kRootKeyEnv) + " on " + node.node.node_id +
                              " to the current root key (fingerprint " +
                              (CurrentRoot(keyring_) ? CurrentRoot(keyring_)->fingerprint : "") +
                              ") and restart its udmg processes";
      if (node.stale()) {
        ++stale;
        Add("nodes", FindingStatus::kProblem, pipeline::DescribeNode(node), fix);
      } else {
        Add("nodes", FindingStatus::kWarning,
            pipeline::DescribeNode(node) + " (not counted: presumed decommissioned)",
            "nothing if it is gone; otherwise " + fix);
      }
    }
    if (stale == 0) {
      Add("nodes", FindingStatus::kOk,
          others == 0 ? "no other node has recorded itself"
                      : std::to_string(others) +
                            " other node(s) recorded; none seen lately on an old root key");
    }
  }

  // Values under older master versions (left by a rotation without --reencrypt), legacy
  // plaintext, and values nothing can read: under a version the keyring does not hold, or broken.
  void CheckValues(const std::map<std::string, db::ValueCounts>& counts) {
    std::optional<uint32_t> active;
    if (const MasterKeyRecord* master = ActiveMaster(keyring_)) active = master->version;
    std::set<uint32_t> readable;
    for (const MasterKeyRecord& master : keyring_.masters) {
      if (master.state != MasterKeyState::kRetired) readable.insert(master.version);
    }
    size_t warnings = 0;
    size_t problems = 0;
    for (const auto& [column, count] : counts) {
      std::string older;
      std::string unreadable;
      for (const auto& [version, values] : count.by_version) {
        if (active && version == *active) continue;
        std::string part = Version(version) + ": " + std::to_string(values);
        std::string& into = readable.count(version) ? older : unreadable;
        into += (into.empty() ? "" : ", ") + part;
      }
      if (!older.empty()) {
        ++warnings;
        Add("stale_values", FindingStatus::kWarning,
            column + " holds values under older master versions (" + older + ")",
            "udmg-server reencrypt (now) or udmg-server sweep (gradually, e.g. nightly)");
      }
      if (uint64_t unbound = UnboundValues(column, count); unbound > 0) {
        ++warnings;
        Add("stale_values", FindingStatus::kWarning,
            column + " is bound to its rows, but " + std::to_string(unbound) + " of " +
                std::to_string(unbound + count.bound) +
                " encrypted value(s) are not in the bound form yet",
            "udmg-server sweep (gradually) or udmg-server reencrypt (now) rewrites them bound "
            "to their rows");
      }
      if (count.plaintext > 0) {
        ++warnings;
        Add("stale_values", FindingStatus::kWarning,
            column + " holds " + std::to_string(count.plaintext) + " legacy plaintext value(s)",
            "udmg-server sweep --include-plaintext encrypts them");
      }
      if (!unreadable.empty()) {
        ++problems;
        Add("values", FindingStatus::kProblem,
            column + " holds values under master versions this keyring cannot read (" +
                unreadable + ")",
            kRestoreFix);
      }
      if (count.malformed > 0) {
        ++problems;
        Add("values", FindingStatus::kProblem,
            column + " holds " + std::to_string(count.malformed) + " malformed envelope(s)",
            "udmg-server verify lists them; restore those values from a database backup");
      }
    }
    if (warnings == 0) {
      Add("stale_values", FindingStatus::kOk,
          "every value is under the active master version " +
              (active ? Version(*active) : std::string("(none)")) +
              (bound_columns_.empty() ? "" : ", in the bound form on row-bound columns"));
    }
    if (problems == 0) Add("values", FindingStatus::kOk, "no unreadable or malformed value");
  }

  // Encrypted values of a row-bound column still in the unbound form: the binding does not
  // protect them until a read, the sweep or a job rewrites them. 0 for an unbound column.
  uint64_t UnboundValues(const std::string& column, const db::ValueCounts& count) const {
    if (!bound_columns_.count(column)) return 0;
    uint64_t encrypted = 0;
    for (const auto& [version, values] : count.by_version) encrypted += values;
    return encrypted - count.bound;
  }

  // An interrupted job (crashed, stopped) or a last job that failed.
  void CheckJobs() {
    size_t found = 0;
    for (std::string_view kind : {pipeline::kReencryptJobKind, pipeline::kSweepJobKind}) {
      const std::string name(kind);
      const std::string resume = "udmg-server " + name;
      Result<std::optional<db::JobRecord>> unfinished = store_->FindLatestJobNotDone(kind);
      if (!unfinished.ok()) {
        Add("jobs", FindingStatus::kProblem, unfinished.error().message, "check the database");
        return;
      }
      if (*unfinished && (**unfinished).state != db::JobState::kFailed) {
        const db::JobRecord& job = **unfinished;
        ++found;
        std::string crashed = job.state == db::JobState::kRunning
                                  ? " (unless a process still runs it, it crashed)"
                                  : "";
        Add("jobs", FindingStatus::kWarning,
            name + " job " + std::to_string(job.id) + " to master " + Version(job.target_version) +
                " is " + std::string(db::JobStateName(job.state)) + " since " +
                UtcText(job.updated_at) + crashed,
            resume + " resumes it");
        continue;
      }
      Result<std::optional<db::JobRecord>> finished = store_->FindLatestFinishedJob(kind);
      std::optional<db::JobRecord> failed = *unfinished;
      if (finished.ok() && *finished && (!failed || (*finished)->id > failed->id)) {
        failed = **finished;
      }
      if (failed && failed->state == db::JobState::kFailed) {
        ++found;
        Add("jobs", FindingStatus::kWarning,
            "the last " + name + " job " + std::to_string(failed->id) + " failed at " +
                UtcText(failed->updated_at),
            "udmg-server verify lists the values that do not decrypt; then run " + resume +
                " again");
      }
    }
    if (found == 0) Add("jobs", FindingStatus::kOk, "no interrupted or failed job");
  }

  // Each key past a limit of the policy is a warning: its values are safe, the rotation is due.
  void CheckCryptoperiods() {
    Result<pipeline::PolicyStanding> standing =
        pipeline::AssessPolicy(*store_, keyring_, NowSeconds());
    if (!standing.ok()) {
      Add("cryptoperiods", FindingStatus::kProblem, standing.error().message,
          "udmg-server policy set stores the policy again (docs/security.md, \"Cryptoperiods\")");
      return;
    }
    if (standing->policy == KeyPolicy{}) {
      Add("cryptoperiods", FindingStatus::kOk,
          "no cryptoperiod policy is set: no key is due by age or use (udmg-server policy set)");
      return;
    }
    const std::pair<const std::optional<KeyDue>&, const char*> keys[] = {
        {standing->master,
         "udmg-server rotate-master-key --if-due --reencrypt (udmg-sweep.service runs it before "
         "each nightly sweep)"},
        {standing->root,
         "udmg-server rotate-k0 --new-key-file PATH --reencrypt, then the new key on every node "
         "(docs/operator-guide.md)"}};
    std::string within;
    for (const auto& [key, fix] : keys) {
      if (!key) continue;
      if (key->due) {
        Add("cryptoperiods", FindingStatus::kWarning, key->why, fix);
      } else {
        within += (within.empty() ? "" : "; ") + key->why;
      }
    }
    if (!standing->overdue()) Add("cryptoperiods", FindingStatus::kOk, within);
  }

  const GlobalOptions& global_;
  std::unique_ptr<db::Store> store_;
  KeyringRecords keyring_;
  std::string self_id_;
  std::set<std::string> bound_columns_;  // names of the row-bound columns
  std::vector<Finding> findings_;
};

}  // namespace

std::string_view FindingStatusName(FindingStatus status) {
  switch (status) {
    case FindingStatus::kOk: return "ok";
    case FindingStatus::kWarning: return "warning";
    case FindingStatus::kProblem: break;
  }
  return "problem";
}

std::vector<Finding> RunDoctorChecks(const GlobalOptions& global) {
  return DoctorRun(global).Run();
}

}  // namespace udmg::cli
