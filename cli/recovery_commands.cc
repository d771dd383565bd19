// passphrase-backup, passphrase-restore: the key material a database needs to survive
// the loss of its root key, sealed in a file under a passphrase (engine/backup.h), and put back
// by a merge planned under the keyring lock (engine/restore.h). Runbook: docs/disaster-recovery.md.
//
// Order matters for "no change on bad input": a restore reads and opens the file (passphrase,
// integrity) and checks --write-key-file before it touches the database; the merge is planned and
// written in one transaction, refused while a re-encryption job runs.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/time_text.h"
#include "cli/commands.h"
#include "cli/key_input.h"
#include "cli/output.h"
#include "cli/passphrase_input.h"
#include "cli/secure_file.h"
#include "cli/setting_flags.h"
#include "engine/backup.h"
#include "engine/restore.h"
#include "engine/root_key.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

// A backup holds a few keyring rows: anything much larger is not one of ours.
constexpr size_t kMaxBackupFileBytes = 1 << 20;

#ifdef UDMG_TOOL_VERSION
constexpr char kToolVersion[] = "udmg-server " UDMG_TOOL_VERSION;
#else
constexpr char kToolVersion[] = "udmg-server";
#endif

// "1 (decrypt_only), 2 (active)"
std::string MasterVersionsText(const KeyringRecords& records) {
  std::string text;
  for (const MasterKeyRecord& master : records.masters) {
    if (!text.empty()) text += ", ";
    text += std::to_string(master.version) + " (" + std::string(MasterKeyStateName(master.state)) +
            ")";
  }
  return text.empty() ? "none" : text;
}

json MasterVersionsJson(const KeyringRecords& records) {
  json masters = json::array();
  for (const MasterKeyRecord& master : records.masters) {
    masters.push_back({{"version", master.version}, {"state", MasterKeyStateName(master.state)}});
  }
  return masters;
}

// ---- passphrase-backup ----------------------------------------------------------------------

struct BackupArgs {
  OutputFile output;
  std::string passphrase_file;
  bool as_json = false;
};

// What the backup holds, from the keyring as stored now, opened with this node's K0 (which
// must be the current one: a backup under an older K0 would not restore this database).
Result<BackupContents> CollectBackupContents(pipeline::SecretsClient& client) {
  UDMG_RETURN_IF_ERROR(client.RefreshKeyring());  // the newest revision, K0 still current
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  const Keyring& keyring = client.keyring();
  BackupContents contents;
  UDMG_ASSIGN_OR_RETURN(contents.keyring_id, client.store().KeyringId());
  contents.keyring_revision = keyring.revision();
  contents.created_at = NowSeconds();
  contents.tool_version = kToolVersion;
  contents.root_version = keyring.root_version();
  contents.root_fingerprint = RootKeyFingerprint(k0);
  contents.root_key = std::move(k0);
  contents.records = keyring.records();
  return contents;
}

void PrintBackupSummary(const BackupArgs& args, const BackupContents& contents) {
  if (args.as_json) {
    json out = {{"path", args.output.path},
                {"keyring_id", contents.keyring_id},
                {"keyring_revision", contents.keyring_revision},
                {"created_at", contents.created_at},
                {"root_version", contents.root_version},
                {"root_fingerprint", contents.root_fingerprint},
                {"master_versions", MasterVersionsJson(contents.records)}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "backup written to " << args.output.path << ": root version " << contents.root_version
            << " (fingerprint " << contents.root_fingerprint << "), master versions "
            << MasterVersionsText(contents.records) << ", keyring " << contents.keyring_id
            << " revision " << contents.keyring_revision << "\n";
}

Status RunBackup(const GlobalOptions& global, const BackupArgs& args) {
  UDMG_RETURN_IF_ERROR(CheckCanCreate(args.output.path, args.output.force));  // before any prompt
  UDMG_ASSIGN_OR_RETURN(SecretBytes passphrase,
                        ReadPassphrase(args.passphrase_file, PassphrasePurpose::kSeal));
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  UDMG_ASSIGN_OR_RETURN(BackupContents contents, CollectBackupContents(*client));
  UDMG_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, SealBackup(contents, passphrase));
  UDMG_RETURN_IF_ERROR(WriteFileAtomically(args.output.path, sealed, args.output.force));
  PrintBackupSummary(args, contents);
  Status recorded = client->store().RecordBackup(db::BackupRecord{
      contents.created_at, contents.root_version, contents.root_fingerprint,
      contents.keyring_revision});
  if (!recorded.ok()) {
    return Error{recorded.code(), "the backup " + args.output.path +
                                      " is written and good, but recording it in the database "
                                      "failed (" + recorded.message() +
                                      "): `doctor` will not see it; run the backup again"};
  }
  return Status::Ok();
}

// ---- passphrase-restore ---------------------------------------------------------------------

struct RestoreArgs {
  std::string input;
  std::string passphrase_file;
  std::string write_key_file;
  bool verify_only = false;
  bool force = false;
  bool as_json = false;
};

Result<BackupContents> OpenBackupFile(const RestoreArgs& args) {
  UDMG_ASSIGN_OR_RETURN(std::vector<uint8_t> file,
                        ReadFileBounded(args.input, kMaxBackupFileBytes, "--input " + args.input));
  UDMG_ASSIGN_OR_RETURN(SecretBytes passphrase,
                        ReadPassphrase(args.passphrase_file, PassphrasePurpose::kOpen));
  Result<BackupContents> opened = OpenBackup(file, passphrase);
  if (!opened.ok()) {
    return Error{opened.error().code, args.input + ": " + opened.error().message,
                 opened.error().setting};
  }
  return opened;
}

// This node's K0 when it is set, well-formed and the database's current root key: the restore
// then keeps the current root. Anything else is no K0 at all (the restore may not need one).
std::optional<SecretBytes> CurrentRootKeyIfAtHand(const std::optional<KeyringRecords>& current) {
  if (!current) return std::nullopt;
  Result<SecretBytes> k0 = LoadRootKey();
  if (!k0.ok()) return std::nullopt;
  if (CheckRootKey(*current, *k0).standing != RootKeyStanding::kCurrent) return std::nullopt;
  return std::move(k0).value();
}

// The restore, planned (and unless verify-only, written) under the keyring lock. The backup's K0
// goes to --write-key-file inside the transaction, so the database never points at a root key
// the operator was not handed; if the commit then fails, the file is removed again.
Result<RestorePlan> PlanAndApply(const GlobalOptions& global, const RestoreArgs& args,
                                 const BackupContents& backup, bool& wrote_key_file) {
  // Besides init, a restore may set up an empty database (disaster-recovery.md, "Restoring into
  // an empty database"); a verification never creates anything.
  UDMG_ASSIGN_OR_RETURN(auto store,
                        OpenMigratedStore(global, args.verify_only ? db::OpenMode::kExisting
                                                                   : db::OpenMode::kCreate));
  std::optional<RestorePlan> planned;
  Status applied = store->UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>& current, const std::string& keyring_id,
          const VersionUsage& usage) -> Result<std::optional<db::KeyringReplacement>> {
        std::optional<SecretBytes> k0 = CurrentRootKeyIfAtHand(current);
        RestoreInput input;
        input.current = current;
        input.current_keyring_id = keyring_id;
        if (k0) input.current_k0 = *k0;
        input.usage = usage;
        input.force = args.force;
        input.now = NowSeconds();
        UDMG_ASSIGN_OR_RETURN(RestorePlan plan, PlanRestore(backup, input));
        planned = plan;
        // The entry is sealed by the root key current after the restore (the store appends it
        // once this returns).
        SignAuditEntries(*store, global, plan.root_key_is_backups || !k0 ? backup.root_key : *k0);
        if (args.verify_only) return std::optional<db::KeyringReplacement>();
        if (plan.root_key_is_backups && !args.write_key_file.empty()) {
          UDMG_RETURN_IF_ERROR(
              WriteFileAtomically(args.write_key_file, KeyFileText(backup.root_key), args.force));
          wrote_key_file = true;
        }
        if (plan.changes_nothing) return std::optional<db::KeyringReplacement>();
        return std::optional<db::KeyringReplacement>(db::KeyringReplacement{
            std::move(plan.records), std::move(plan.keyring_id), std::move(plan.archived),
            "restore", "from the backup taken " + UtcText(backup.created_at)});
      },
      /*refuse_while_job_runs=*/!args.verify_only);
  if (!applied.ok()) {
    if (wrote_key_file) {
      std::remove(args.write_key_file.c_str());
      wrote_key_file = false;
    }
    return applied.error();
  }
  if (!planned) return Error{ErrorCode::kInternal, "the restore was not planned (a bug)"};
  return *std::move(planned);
}

// The fingerprint of this node's K0, when it is set and well-formed.
std::optional<std::string> ThisNodeFingerprint() {
  Result<SecretBytes> k0 = LoadRootKey();
  if (!k0.ok()) return std::nullopt;
  return RootKeyFingerprint(*k0);
}

// What the operator does next about the root key; never the key itself.
std::string RootKeyAdvice(const RestoreArgs& args, const RestorePlan& plan, bool wrote_key_file) {
  std::string key = "the key with fingerprint " + plan.root_fingerprint + " (root version " +
                    std::to_string(plan.root_version) + ")";
  if (!wrote_key_file && ThisNodeFingerprint() == plan.root_fingerprint) {
    return "this node's UDMG_SECURITY_PASSPHRASE_KEY is " + key +
           ", the current root key: every node must have it";
  }
  if (wrote_key_file) {
    return "wrote " + key + " to " + args.write_key_file +
           ": set UDMG_SECURITY_PASSPHRASE_KEY on every node to its content and restart them";
  }
  std::string advice = "set UDMG_SECURITY_PASSPHRASE_KEY on every node to " + key;
  if (!plan.root_key_is_backups && !args.write_key_file.empty() && !args.verify_only) {
    advice = "no key file written: the database's current root key stays; " + advice;
  }
  if (plan.root_key_is_backups) {
    advice += "; the backup holds it: run again with --write-key-file PATH to write it";
  }
  return advice;
}

void PrintRestore(const RestoreArgs& args, const BackupContents& backup, const RestorePlan& plan,
                  bool wrote_key_file) {
  const std::string advice = RootKeyAdvice(args, plan, wrote_key_file);
  std::vector<std::string> changes;  // as the CLI says them: "(by --force)"
  for (const std::string& change : plan.changes) changes.push_back(ReplaceSettingWords(change, kForce));
  if (args.as_json) {
    json out = {{"input", args.input},
                {"verify_only", args.verify_only},
                {"keyring_id", backup.keyring_id},
                {"backup_keyring_revision", backup.keyring_revision},
                {"backup_created_at", backup.created_at},
                {"backup_root_version", backup.root_version},
                {"backup_root_fingerprint", backup.root_fingerprint},
                {"backup_master_versions", MasterVersionsJson(backup.records)},
                {"changes", changes},
                {"changes_nothing", plan.changes_nothing},
                {"archived_rows", plan.archived.size()},
                {"root_version", plan.root_version},
                {"root_fingerprint", plan.root_fingerprint},
                {"root_key_is_backups", plan.root_key_is_backups},
                {"key_file", wrote_key_file ? json(args.write_key_file) : json(nullptr)},
                {"next", advice}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "backup " << args.input << " opens: keyring " << backup.keyring_id << " revision "
            << backup.keyring_revision << ", taken " << Rfc3339(backup.created_at)
            << ", root version " << backup.root_version << " (fingerprint "
            << backup.root_fingerprint << "), master versions "
            << MasterVersionsText(backup.records) << "\n";
  const char* prefix = args.verify_only ? "a restore would: " : "restored: ";
  if (plan.changes_nothing) {
    std::cout << "nothing to restore: this database already holds everything in the backup\n";
  }
  for (const std::string& change : changes) std::cout << prefix << change << "\n";
  if (!plan.archived.empty() && !args.verify_only) {
    std::cout << plan.archived.size()
              << " replaced keyring rows are kept in udmg_replaced_keys (recoverable)\n";
  }
  if (args.verify_only) {
    std::cout << "verified: the backup matches this database; nothing was written\n";
  }
  std::cout << advice << "\n";
}

Status RunRestore(const GlobalOptions& global, const RestoreArgs& args) {
  UDMG_ASSIGN_OR_RETURN(BackupContents backup, OpenBackupFile(args));
  if (!args.write_key_file.empty() && !args.verify_only) {
    UDMG_RETURN_IF_ERROR(CheckCanCreate(args.write_key_file, args.force));
  }
  bool wrote_key_file = false;
  UDMG_ASSIGN_OR_RETURN(RestorePlan plan, PlanAndApply(global, args, backup, wrote_key_file));
  PrintRestore(args, backup, plan, wrote_key_file);
  return Status::Ok();
}

// --passphrase-file and --json, as both commands take them. The terminal asks twice for the
// passphrase of a new backup (kSeal), once to open one.
void AddPassphraseAndJsonFlags(CLI::App* command, std::string& passphrase_file, bool& as_json,
                               PassphrasePurpose purpose) {
  const std::string asked = purpose == PassphrasePurpose::kSeal ? "asked twice" : "asked";
  command->add_option("--passphrase-file", passphrase_file,
                      "read the passphrase from this file (chmod 600); else "
                      "$UDMG_BACKUP_PASSPHRASE, else " +
                          asked + " on the terminal");
  command->add_flag("--json", as_json, "print one JSON document");
}

}  // namespace

void AddRecoveryCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [backup_command, backup] = AddCommand<BackupArgs>(
      app, action, "passphrase-backup",
      "write the key material recovery needs (current root key, root history, every master key) "
      "to a file sealed under a passphrase (needs the current root key as this node's K0)",
      [&global](const BackupArgs& args) { return RunBackup(global, args); });
  AddOutputFileOptions(backup_command, backup->output, "the backup file to create (mode 0600)");
  AddPassphraseAndJsonFlags(backup_command, backup->passphrase_file, backup->as_json,
                            PassphrasePurpose::kSeal);

  auto [restore_command, restore] = AddCommand<RestoreArgs>(
      app, action, "passphrase-restore",
      "put back the key material of a backup file: merges missing versions, never drops a "
      "version values still use; refused while a re-encryption job runs",
      [&global](const RestoreArgs& args) { return RunRestore(global, args); });
  restore_command->add_option("--input", restore->input, "the backup file")->required();
  restore_command->add_flag("--verify-only", restore->verify_only,
                            "check that the file opens and matches this database; write nothing");
  restore_command->add_flag("--force", restore->force,
                            "replace conflicting keyring rows (kept in udmg_replaced_keys) and an "
                            "existing --write-key-file");
  restore_command->add_option("--write-key-file", restore->write_key_file,
                              "write the backup's root key (64 hex) to this file (mode 0600) when "
                              "it becomes the current root key");
  AddPassphraseAndJsonFlags(restore_command, restore->passphrase_file, restore->as_json,
                            PassphrasePurpose::kOpen);
}

}  // namespace udmg::cli
