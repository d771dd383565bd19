// retire-key VERSION: no process encrypts under the version any more (the active one is rotated
// away first), the re-encryption job moves its values, and once a full count under the keyring
// lock finds none it is retired: no process decrypts under it again (docs/security.md, "Retiring
// a compromised version"). --now retires it at once, making the values still under it
// unreadable, and only with --confirm-unreadable after the count was printed.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/metrics_outputs.h"
#include "cli/reencrypt_command.h"
#include "engine/audit_chain.h"
#include "engine/restore.h"
#include "engine/root_key.h"
#include "pipeline/reencrypt.h"

namespace udmg::cli {
namespace {

struct RetireArgs {
  uint32_t version = 0;
  bool now = false;
  bool confirm_unreadable = false;
  JobFlags job;  // the runner's flags only (AddRunnerFlags), for the migration and its metrics
};

std::string Version(uint32_t version) { return "master key version " + std::to_string(version); }

std::string ValuesUnder(const RetirePlan& plan, uint32_t version) {
  return std::to_string(plan.values) + (plan.values == 1 ? " value is" : " values are") +
         " under " + Version(version) + (plan.where.empty() ? "" : " (" + plan.where + ")");
}

Error KeyringChanged() {
  return Error{ErrorCode::kConflict,
               "the keyring changed meanwhile (another process changed it); nothing was "
               "changed: check `udmg-server status` and run this command again"};
}

// The keyring as `current`, with another version made active when `version` is the active one:
// its writers see the new active version at their next write (each refreshes on the keyring's
// revision).
Result<KeyringRecords> WithoutActive(const KeyringRecords& current, uint32_t version,
                                     std::span<const uint8_t> k0) {
  if (ActiveMasterVersion(current) != version) return current;
  SecretBytes k1 = RandomSecret(kKeySize);
  return RotateMasterKey(current, k0, k1, NowSeconds());
}

// The retirement under the keyring lock, with the values under `version` counted there: nothing
// is written while any remains, unless `now` (--now), which also rotates the active version away
// in the same transaction. `plan` is what was decided, also when nothing was written; `dry`
// writes nothing (the count printed before --now is confirmed).
Status RetireUnderLock(db::Store& store, const KeyringView& view, uint32_t version, bool now,
                       bool dry, std::optional<RetirePlan>& plan) {
  return store.UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>& current, const std::string& keyring_id,
          const VersionUsage& usage) -> Result<std::optional<db::KeyringReplacement>> {
        if (!current) return Error{ErrorCode::kNotInitialized, "the database has no keyring"};
        if (now && current->revision != view.records.revision) return KeyringChanged();
        KeyringRecords records = *current;
        if (now) {
          UDMG_ASSIGN_OR_RETURN(records, WithoutActive(*current, version, view.k0));
        }
        UDMG_ASSIGN_OR_RETURN(plan, PlanRetire(records, usage, version));
        if (dry || plan->already_retired || (plan->values > 0 && !now)) {
          return std::optional<db::KeyringReplacement>();
        }
        const std::vector<uint32_t> retired = {version};
        return std::optional<db::KeyringReplacement>(db::KeyringReplacement{
            plan->records, keyring_id, {}, "retire", RetiredVersionsDetail(retired)});
      },
      /*refuse_while_job_runs=*/false);
}

Status RetireNow(db::Store& store, const KeyringView& view, const RetireArgs& args) {
  std::optional<RetirePlan> plan;
  UDMG_RETURN_IF_ERROR(
      RetireUnderLock(store, view, args.version, /*now=*/true, /*dry=*/true, plan));
  std::cout << ValuesUnder(*plan, args.version) << " and would become unreadable\n";
  std::cout.flush();
  if (!args.confirm_unreadable) {
    const std::string what = Version(args.version);
    return Error{ErrorCode::kUsage,
                 "nothing was retired: --now makes those values unreadable for "
                 "good; add --confirm-unreadable to retire " +
                     what + " at once, or leave out --now to move its values first"};
  }
  UDMG_RETURN_IF_ERROR(
      RetireUnderLock(store, view, args.version, /*now=*/true, /*dry=*/false, plan));
  if (ActiveMasterVersion(plan->records) != ActiveMasterVersion(view.records)) {
    std::cout << "master key rotated: version " << ActiveMasterVersion(plan->records)
              << " is active\n";
  }
  std::cout << Version(args.version) << " retired at once: " << plan->values
            << (plan->values == 1 ? " value" : " values")
            << " under it can no longer be read; jobs and verify report them as "
               "retired_version\n";
  return Status::Ok();
}

// Makes another version active when `version` is, and says that nobody encrypts under it.
Result<KeyringRecords> StopEncrypting(db::Store& store, const KeyringView& view, uint32_t version) {
  if (ActiveMasterVersion(view.records) != version) {
    std::cout << Version(version) << " is decrypt_only: no process encrypts under it\n";
    return view.records;
  }
  KeyringRecords rotated;
  UDMG_RETURN_IF_ERROR(store.UpdateKeyring(
      [&](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
        if (!current || current->revision != view.records.revision) return KeyringChanged();
        UDMG_ASSIGN_OR_RETURN(rotated, WithoutActive(*current, version, view.k0));
        return rotated;
      }));
  std::cout << "master key rotated: version " << ActiveMasterVersion(rotated) << " is active, "
            << Version(version) << " is decrypt_only: no process encrypts under it any more\n";
  std::cout.flush();  // said before anything that may fail: the rotation is committed
  return rotated;
}

Status RunRetire(const GlobalOptions& global, const RetireArgs& args) {
  if (args.confirm_unreadable && !args.now) {
    return Error{ErrorCode::kUsage, "--confirm-unreadable goes with --now; nothing was retired"};
  }
  UDMG_RETURN_IF_ERROR(CheckRunnerFlags(global, args.job));
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  SignAuditEntries(*view.store, global, view.k0);
  db::Store& store = *view.store;
  // Every count below gates the retirement: it must see every row.
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  UDMG_RETURN_IF_ERROR(db::RequireEveryRowVisible(store, columns, "nothing was retired"));
  const MasterKeyRecord* master = FindMaster(view.records, args.version);
  if (master == nullptr) return PlanRetire(view.records, {}, args.version).status();
  if (master->state == MasterKeyState::kRetired) {
    std::cout << Version(args.version) << " is already retired\n";
    return Status::Ok();
  }
  if (args.now) return RetireNow(store, view, args);

  // Started before anything below writes: a bad metrics flag changes nothing.
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<MetricsOutputs> outputs,
                        StartJobMetricsOutputs(args.job, pipeline::kReencryptJobKind));
  UDMG_ASSIGN_OR_RETURN(KeyringRecords records, StopEncrypting(store, view, args.version));
  std::optional<RetirePlan> plan;
  UDMG_RETURN_IF_ERROR(
      RetireUnderLock(store, view, args.version, /*now=*/false, /*dry=*/true, plan));
  if (plan->values == 0 && outputs != nullptr) {
    // No job to run: the outputs report a finished one (as a rotation with nothing to move).
    outputs->RefreshKeyState(store);
    outputs->RecordSuccess(NowSeconds());
    outputs->Finish(pipeline::JobRunState::kDone);
  }
  if (plan->values > 0) {
    std::cout << ValuesUnder(*plan, args.version) << ": re-encrypting them to version "
              << ActiveMasterVersion(records) << " now\n";
    std::cout.flush();
    UDMG_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keyring, Keyring::Open(records, view.k0));
    Status moved =
        RunJob(global, args.job, std::move(keyring), view.store->audit_signer(),
               pipeline::ResumeMode::kResumeOrStart, pipeline::kReencryptJobKind, outputs.get());
    if (!moved.ok()) {
      return Status(moved.code(), Version(args.version) + " is not retired: " + moved.message(),
                    moved.setting());
    }
  }
  UDMG_RETURN_IF_ERROR(
      RetireUnderLock(store, view, args.version, /*now=*/false, /*dry=*/false, plan));
  if (plan->values > 0) {
    return Error{ErrorCode::kConflict,
                 Version(args.version) + " is not retired: " + ValuesUnder(*plan, args.version) +
                     " still (written by a process that had not yet seen the rotation, or values "
                     "that do not decrypt: `udmg-server verify` lists them); run this command "
                     "again, or retire it with --now --confirm-unreadable"};
  }
  std::cout << Version(args.version)
            << (plan->already_retired ? " was retired meanwhile by another process"
                                      : " retired: a full count found no value under it; no "
                                        "process decrypts under it any more")
            << "\n";
  return Status::Ok();
}

}  // namespace

void AddRetireCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [retire, args] = AddCommand<RetireArgs>(
      app, action, "retire-key",
      "retire a master key version: stop encrypting under it, move its values (a resumable "
      "job), then refuse decryption under it everywhere",
      [&global](const RetireArgs& args) { return RunRetire(global, args); });
  retire->add_option("version", args->version, "the master key version to retire")->required();
  retire->add_flag("--now", args->now,
                   "retire it at once, without moving its values: they become unreadable (for a "
                   "key known stolen); prints how many first");
  retire->add_flag("--confirm-unreadable", args->confirm_unreadable,
                   "with --now: confirm that the values under the version become unreadable");
  AddRunnerFlags(retire, args->job);
}

}  // namespace udmg::cli
