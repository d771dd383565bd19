// init, rotate-k0, rotate-master-key: every keyring change is one store transaction under the
// keyring lock (db::Store::UpdateKeyring), so a failed or concurrent change leaves it intact.
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/dry_run.h"
#include "cli/json_reports.h"
#include "cli/key_input.h"
#include "cli/output.h"
#include "cli/reencrypt_command.h"
#include "engine/root_key.h"
#include "pipeline/audit_trail.h"
#include "pipeline/key_policy.h"
#include "pipeline/rotation_job.h"

namespace udmg::cli {
namespace {

Error NotInitialized() {
  return Error{ErrorCode::kNotInitialized,
               "the database has no keyring: run `udmg-server init` first"};
}

// The keyring before a rotation starts: under the lock, the rotation goes ahead only if nobody
// changed it since (its revision), so of two concurrent rotations exactly one wins.
Result<KeyringRecords> KeyringBeforeRotation(db::Store& store) {
  UDMG_ASSIGN_OR_RETURN(auto records, store.LoadKeyring());
  if (!records) return NotInitialized();
  return std::move(*records);
}

Error AnotherRotationWon() {
  return Error{ErrorCode::kConflict,
               "the keyring changed while this rotation ran (another rotation won); nothing "
               "was changed: check `udmg-server status` and run again if still needed"};
}

Status CheckUnchanged(const std::optional<KeyringRecords>& current, int64_t revision) {
  if (!current) return NotInitialized();
  if (current->revision != revision) return AnotherRotationWon();
  return Status::Ok();
}

// True when `k0` is the root version that the current one replaced at or after `started` (unix
// seconds, when this process was created): a rotate-k0 that read the keyring after a concurrent
// one committed lost a race (7), it is not a node left behind (4).
bool ReplacedSince(const KeyringRecords& current, std::span<const uint8_t> k0, int64_t started) {
  const std::vector<RootKeyRecord>& roots = current.roots;
  return roots.size() >= 2 && roots.back().created_at >= started &&
         roots[roots.size() - 2].fingerprint == RootKeyFingerprint(k0);
}

Status RunInit(const GlobalOptions& global) {
  // The key first: a refused init leaves no file and no table behind.
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global, db::OpenMode::kCreate));
  SignAuditEntries(*store, global, k0);
  SecretBytes k1 = RandomSecret(kKeySize);
  UDMG_RETURN_IF_ERROR(store->UpdateKeyring(
      [&](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
        if (current) {
          return Error{ErrorCode::kNotInitialized,
                       "the database " + store->Describe() +
                           " is already initialized: init runs once; use rotate-k0 or "
                           "rotate-master-key to change keys"};
        }
        return NewKeyringRecords(k0, k1, NowSeconds());
      }));
  std::cout << "initialized " << store->Describe() << "\n"
            << "root key version 1, fingerprint " << RootKeyFingerprint(k0) << " (current)\n"
            << "master key version 1 active\n";
  return Status::Ok();
}

// --reencrypt on a rotation: migrate every value to the active master version right after it.
struct ReencryptRequest {
  bool enabled = false;
  JobFlags flags;
};

// --reencrypt, the job's flags and --json: what both rotations take besides their own flags.
void AddReencryptRequestFlags(CLI::App* rotation, ReencryptRequest& request,
                              const std::string& reencrypt_description) {
  rotation->add_flag("--reencrypt", request.enabled, reencrypt_description);
  AddJobFlags(rotation, request.flags);
  rotation->add_flag("--json", request.flags.json,
                     "print what it did (and its job's summary) as one JSON document");
}

// Values not yet on `active`, over every registered column (legacy plaintext only with
// `include_plaintext`). The rotation is already committed: a column whose table is gone is a warning, not a failure.
Result<uint64_t> CountStaleValues(db::Store& store, uint32_t active,
                                  bool include_plaintext = false) {
  UDMG_ASSIGN_OR_RETURN(auto columns, store.ListColumns());
  uint64_t total = 0;
  for (const db::ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(std::string missing, pipeline::MissingReason(store, column));
    if (!missing.empty()) {
      PrintWarning(missing);
      continue;
    }
    UDMG_ASSIGN_OR_RETURN(uint64_t stale, store.CountStale(column, db::StaleFilter{active, include_plaintext}));
    total += stale;
  }
  return total;
}

// The job a rotation's --dry-run describes, to `target`.
JobDryRun RotationJobDryRun(const ReencryptRequest& request, uint32_t target) {
  return JobDryRun{pipeline::kReencryptJobKind, target, request.flags.include_plaintext,
                   request.flags.batch_size, request.flags.rate, std::nullopt};
}

// The metrics outputs of the job that follows the rotation, started before the rotation writes
// anything (a bad flag or a busy port leaves the keyring as it was). Metrics flags without
// --reencrypt are refused: there is no job to measure.
Result<std::unique_ptr<MetricsOutputs>> StartRotationMetrics(const ReencryptRequest& request) {
  if (!request.enabled && request.flags.metrics.any()) {
    return Error{ErrorCode::kUsage,
                 "--metrics-listen, --metrics-textfile and --pushgateway measure the "
                 "re-encryption job: add --reencrypt or drop them"};
  }
  if (!request.enabled) return std::unique_ptr<MetricsOutputs>();
  return StartJobMetricsOutputs(request.flags, pipeline::kReencryptJobKind);
}

// A rotation with --reencrypt whose job would refuse to start (a table whose rows the role may
// not see, a job flag this database cannot honour) is refused before it writes anything.
Status RequireJobCanStart(const GlobalOptions& global, db::Store& store,
                          const ReencryptRequest& request) {
  if (!request.enabled) return Status::Ok();
  UDMG_RETURN_IF_ERROR(CheckJobFlags(global, request.flags));
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  return db::RequireEveryRowVisible(store, columns, "nothing was rotated");
}

// What the same rotation command does when run again after a failure: rotate-k0 --reencrypt
// rotates nothing more and finishes the job; rotate-master-key would rotate again unless its job
// was left unfinished.
constexpr std::string_view kRootRotationResume =
    "run the same command again (it rotates nothing more and moves the values to the active "
    "version), or `udmg-server reencrypt` once this node has the new key";
constexpr std::string_view kMasterRotationResume =
    "run `udmg-server reencrypt` to move the values to the active version";

// A step after a committed rotation failed: the error says what is committed, so that nobody
// rotates again, and which command finishes the work. The exit code stays the step's. A stopped
// job (exit 10) already says "run the same command again", which resumes it without rotating.
Status AfterCommittedRotation(Status step, std::string_view committed, std::string_view resume) {
  if (step.ok()) return step;
  std::string message = std::string(committed) + " is committed, but " + step.message();
  if (step.code() != ErrorCode::kIncomplete) {
    message += ": do not rotate again; " + std::string(resume);
  }
  return Status(step.code(), message, step.setting());
}

// Runs the re-encryption job with `records`, opened with `k0` (the new root key after rotate-k0):
// resumes the unfinished job on the active version, else starts one.
Status RunRotationJob(const GlobalOptions& global, const ReencryptRequest& request,
                      const KeyringRecords& records, std::span<const uint8_t> k0,
                      MetricsOutputs* outputs) {
  UDMG_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keyring, Keyring::Open(records, k0));
  return RunJob(global, request.flags, std::move(keyring),
                pipeline::AuditSignerFor(global.program, k0), pipeline::ResumeMode::kResumeOrStart,
                pipeline::kReencryptJobKind, outputs);
}

// The job right after a rotation, which is already committed whatever the job's outcome.
Status ReencryptAfterRotation(const GlobalOptions& global, const ReencryptRequest& request,
                              const KeyringRecords& records, std::span<const uint8_t> k0,
                              MetricsOutputs* outputs, std::string_view committed,
                              std::string_view resume) {
  if (!request.enabled) return Status::Ok();
  return AfterCommittedRotation(RunRotationJob(global, request, records, k0, outputs), committed,
                                resume);
}

std::string JobText(const db::JobRecord& job) {
  return "reencrypt job " + std::to_string(job.id) + " to master key version " +
         std::to_string(job.target_version) + " (" + std::string(db::JobStateName(job.state)) + ")";
}

// rotate-k0 rewraps the master keys, never a value: with --reencrypt and no job to finish, when
// every value already is on the active master version there is nothing to move. Says so in one
// line (rather than an empty job's "0/? rows") and reports the run done on the metrics outputs.
Result<bool> SayIfNothingToMove(db::Store& store, const ReencryptRequest& reencrypt,
                                const KeyringRecords& records, MetricsOutputs* outputs) {
  uint32_t active = 0;
  for (const MasterKeyRecord& master : records.masters) {
    if (master.state == MasterKeyState::kActive) active = master.version;
  }
  UDMG_ASSIGN_OR_RETURN(uint64_t stale,
                        CountStaleValues(store, active, reencrypt.flags.include_plaintext));
  if (stale != 0) return false;
  std::cout << "nothing to re-encrypt: every value is already on master key version " << active
            << " (a root key rotation rewraps the master keys, not the values)\n";
  if (outputs != nullptr) {
    outputs->RefreshKeyState(store);
    outputs->RecordSuccess(NowSeconds());  // no job row: the success is now
    outputs->Finish(pipeline::JobRunState::kDone);
  }
  return true;
}

// rotate-k0 run again with the key it made current, on a node still on the key it replaced: the
// rotation is made; with --reencrypt its job is finished (resumed, or started if it never was).
Status RootRotationAlreadyMade(const GlobalOptions& global, db::Store& store,
                               const ReencryptRequest& reencrypt,
                               const KeyringRecords& records, std::span<const uint8_t> new_key,
                               const std::optional<db::JobRecord>& unfinished,
                               MetricsOutputs* outputs) {
  const RootKeyRecord& current = records.roots.back();
  if (reencrypt.flags.dry_run) PrintDryRunVersions(records, records);
  std::cout << (reencrypt.flags.dry_run ? "nothing would be rotated" : "nothing rotated")
            << ": root key version " << current.version << " (fingerprint "
            << current.fingerprint << ") already is this key\n";
  if (reencrypt.flags.dry_run && reencrypt.enabled) {
    UDMG_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keyring, Keyring::Open(records, new_key));
    return PrintJobDryRun(store, keyring, RotationJobDryRun(reencrypt, keyring->active_version()));
  }
  if (!reencrypt.enabled) {
    if (unfinished) {
      std::cout << JobText(*unfinished) << " is unfinished: add --reencrypt to finish it\n";
    }
    return Status::Ok();
  }
  if (!unfinished) {
    UDMG_ASSIGN_OR_RETURN(bool nothing, SayIfNothingToMove(store, reencrypt, records, outputs));
    if (nothing) return Status::Ok();
  }
  std::cout << (unfinished ? "finishing " + JobText(*unfinished)
                           : std::string("re-encrypting the values not on the active version"))
            << "\n";
  return RunRotationJob(global, reencrypt, records, new_key, outputs);
}

// rotate-k0 with another new key while the rotation that replaced this node's K0 has its job
// unfinished: the operator most likely lost track of which key file that rotation used.
Error AnotherRootRotationHalfDone(const KeyringRecords& records, const RootKeyCheck& node,
                                  const db::JobRecord& unfinished) {
  const RootKeyRecord& current = records.roots.back();
  return Error{ErrorCode::kWrongKey,
               "root key version " + std::to_string(current.version) + " (fingerprint " +
                   current.fingerprint + ") already replaced this node's K0 (version " +
                   std::to_string(*node.version) + ") and its " + JobText(unfinished) +
                   " is unfinished, but the new key given is not version " +
                   std::to_string(current.version) + "; nothing was changed: run the same "
                   "command with version " + std::to_string(current.version) +
                   "'s key to finish that rotation, or set UDMG_SECURITY_PASSPHRASE_KEY to it "
                   "and run `udmg-server reencrypt`"};
}

struct NewKeySource {
  std::string argument;  // --new-key HEX or "-"
  std::string path;      // --new-key-file PATH
};

Status RunRotateRootKey(const GlobalOptions& global, NewKeySource& source,
                        const ReencryptRequest& reencrypt) {
  const int64_t started = ProcessStartSeconds();
  const bool dry_run = reencrypt.flags.dry_run;
  std::unique_ptr<MetricsOutputs> outputs;  // a dry run has no job to measure
  if (!dry_run) {
    UDMG_ASSIGN_OR_RETURN(outputs, StartRotationMetrics(reencrypt));
  }
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  SignAuditEntries(*store, global, k0);
  Result<SecretBytes> new_key =
      source.path.empty() ? NewKeyFromArgument(source.argument) : NewKeyFromFile(source.path);
  Wipe(source.argument.data(), source.argument.size());  // the parsed copy is all we keep
  if (!new_key.ok()) return new_key.error();
  UDMG_RETURN_IF_ERROR(RequireJobCanStart(global, *store, reencrypt));
  UDMG_ASSIGN_OR_RETURN(KeyringRecords before, KeyringBeforeRotation(*store));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished,
                        pipeline::UnfinishedJobOnActiveVersion(*store, before));
  if (RootRotationMade(before, k0, *new_key)) {
    return RootRotationAlreadyMade(global, *store, reencrypt, before, *new_key, unfinished,
                                   outputs.get());
  }
  const RootKeyCheck node = CheckRootKey(before, k0);
  if (unfinished && node.standing == RootKeyStanding::kOlder) {
    return AnotherRootRotationHalfDone(before, node, *unfinished);
  }
  if (dry_run) {
    // The rotation made in memory only: a refused key is refused as the real run would.
    UDMG_ASSIGN_OR_RETURN(KeyringRecords rotated,
                          RotateRootKey(before, k0, *new_key, NowSeconds()));
    PrintDryRunVersions(before, rotated);
    std::cout << "values: not touched by a root key rotation\n";
    if (!reencrypt.enabled) return Status::Ok();
    UDMG_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keyring, Keyring::Open(before, k0));
    return PrintJobDryRun(*store, keyring,
                          RotationJobDryRun(reencrypt, keyring->active_version()));
  }
  KeyringRecords rotated;
  UDMG_RETURN_IF_ERROR(store->UpdateKeyring(
      [&](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
        UDMG_RETURN_IF_ERROR(CheckUnchanged(current, before.revision));
        Result<KeyringRecords> result = RotateRootKey(*current, k0, *new_key, NowSeconds());
        if (!result.ok() && result.error().code == ErrorCode::kWrongKey &&
            ReplacedSince(*current, k0, started)) {
          return AnotherRotationWon();
        }
        UDMG_ASSIGN_OR_RETURN(rotated, std::move(result));
        return rotated;
      }));
  const RootKeyRecord& newest = rotated.roots.back();
  uint32_t previous = newest.version - 1;
  std::cout << "root key rotated: version " << newest.version << ", fingerprint "
            << newest.fingerprint << ", is now current; version " << previous
            << " is kept wrapped by it\n"
            << "next: give every node the new key as it was given here (plain or sealed, in "
               "UDMG_SECURITY_PASSPHRASE_KEY, its key file or credential) and restart them; a "
               "process still on version "
            << previous << " stops with exit code 4\n";
  if (reencrypt.enabled && !unfinished) {
    UDMG_ASSIGN_OR_RETURN(bool nothing,
                          SayIfNothingToMove(*store, reencrypt, rotated, outputs.get()));
    if (nothing) return Status::Ok();
  }
  return ReencryptAfterRotation(
      global, reencrypt, rotated, *new_key, outputs.get(),
      "the rotation to root key version " + std::to_string(newest.version), kRootRotationResume);
}

// --if-due: whether the policy says the active master version is due for rotation in `records`,
// said on stdout either way ("rotation due: ..." / "rotation not due: ...").
Result<bool> SayIfRotationDue(db::Store& store, const KeyringRecords& records) {
  UDMG_ASSIGN_OR_RETURN(pipeline::PolicyStanding standing,
                        pipeline::AssessPolicy(store, records, NowSeconds()));
  if (!standing.master) return NotInitialized();
  std::cout << (standing.master->due ? "rotation due: " : "rotation not due: ")
            << standing.master->why << "\n";
  return standing.master->due;
}

// rotate-master-key --dry-run: the rotation made in memory (a random K1 that is then wiped), the
// values it leaves on older versions, and with --reencrypt the job that would follow.
Status MasterRotationDryRun(const GlobalOptions& global, const ReencryptRequest& reencrypt,
                            bool if_due) {
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  if (if_due) {
    UDMG_ASSIGN_OR_RETURN(bool due, SayIfRotationDue(*view.store, view.records));
    if (!due) return Status::Ok();
  }
  UDMG_RETURN_IF_ERROR(RequireJobCanStart(global, *view.store, reencrypt));
  if (reencrypt.enabled) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished,
                          pipeline::UnfinishedMasterRotationJob(*view.store, view.records));
    if (unfinished) {
      PrintDryRunVersions(view.records, view.records);
      std::cout << "nothing would be rotated: would finish " << JobText(*unfinished) << "\n";
      return PrintJobDryRun(*view.store, view.keyring,
                            RotationJobDryRun(reencrypt, view.keyring->active_version()));
    }
  }
  UDMG_ASSIGN_OR_RETURN(KeyringRecords rotated,
                        RotateMasterKey(view.records, view.k0, RandomSecret(kKeySize),
                                        NowSeconds()));
  PrintDryRunVersions(view.records, rotated);
  const uint32_t target = rotated.masters.back().version;
  if (!reencrypt.enabled) {
    UDMG_ASSIGN_OR_RETURN(uint64_t stale, CountStaleValues(*view.store, target));
    std::cout << stale << " values would be on older versions: reads migrate them as they go, "
                          "`udmg-server sweep` or `udmg-server reencrypt` migrates the rest\n";
    return Status::Ok();
  }
  return PrintJobDryRun(*view.store, view.keyring, RotationJobDryRun(reencrypt, target));
}

Status RunRotateMasterKey(const GlobalOptions& global, const ReencryptRequest& reencrypt,
                          bool if_due) {
  if (reencrypt.flags.dry_run) return MasterRotationDryRun(global, reencrypt, if_due);
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<MetricsOutputs> outputs, StartRotationMetrics(reencrypt));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  SignAuditEntries(*store, global, k0);
  SecretBytes k1 = RandomSecret(kKeySize);
  UDMG_RETURN_IF_ERROR(RequireJobCanStart(global, *store, reencrypt));
  UDMG_ASSIGN_OR_RETURN(KeyringRecords before, KeyringBeforeRotation(*store));
  if (if_due) {
    // Judged on the keyring the rotation is made from: a rotation committed since makes this
    // one a lost race (below), never a second rotation.
    UDMG_ASSIGN_OR_RETURN(bool due, SayIfRotationDue(*store, before));
    if (!due) return Status::Ok();
  }
  if (reencrypt.enabled) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished,
                          pipeline::UnfinishedMasterRotationJob(*store, before));
    if (unfinished) {
      std::cout << "nothing rotated: finishing " << JobText(*unfinished)
                << " (a new rotation now would leave the values it moved stale again)\n";
      return RunRotationJob(global, reencrypt, before, k0, outputs.get());
    }
  }
  KeyringRecords rotated;
  uint32_t previous_active = 0;
  Status updated = store->UpdateKeyring(
      [&](const std::optional<KeyringRecords>& current) -> Result<KeyringRecords> {
        UDMG_RETURN_IF_ERROR(CheckUnchanged(current, before.revision));
        if (const MasterKeyRecord* active = ActiveMaster(*current)) previous_active = active->version;
        UDMG_ASSIGN_OR_RETURN(rotated, RotateMasterKey(*current, k0, k1, NowSeconds()));
        return rotated;
      });
  if (!updated.ok() && if_due && updated.error().code == ErrorCode::kConflict) {
    // Two nodes' timers at once: the other rotation made the key no longer due, which is what
    // --if-due asked for; a key still due is the conflict it was.
    UDMG_ASSIGN_OR_RETURN(KeyringRecords now, KeyringBeforeRotation(*store));
    UDMG_ASSIGN_OR_RETURN(pipeline::PolicyStanding standing,
                          pipeline::AssessPolicy(*store, now, NowSeconds()));
    if (standing.master && !standing.master->due) {
      std::cout << "another process rotated meanwhile; rotation not due: " << standing.master->why
                << "\n";
      return Status::Ok();
    }
  }
  UDMG_RETURN_IF_ERROR(updated);
  uint32_t active = rotated.masters.back().version;
  const std::string committed = "the rotation to master key version " + std::to_string(active);
  std::cout << "master key rotated: version " << active << " is active";
  if (previous_active != 0) std::cout << ", version " << previous_active << " is decrypt_only";
  std::cout << "\n";
  std::cout.flush();  // said before anything that may fail: the rotation is committed
  Result<uint64_t> stale = CountStaleValues(*store, active);
  if (!stale.ok()) {
    return AfterCommittedRotation(
        Status(stale.error().code, "counting the values on older versions failed: " +
                                       stale.error().message),
        committed, kMasterRotationResume);
  }
  std::cout << *stale << " values are on older versions: ";
  if (reencrypt.enabled) {
    std::cout << "re-encrypting them now (--reencrypt)\n";
  } else {
    std::cout << "reads migrate them as they go, `udmg-server sweep` or `udmg-server reencrypt` "
                 "migrates the rest\n";
  }
  return ReencryptAfterRotation(global, reencrypt, rotated, k0, outputs.get(), committed,
                                kMasterRotationResume);
}

}  // namespace

// --json on a rotation: what it says (the lines it prints without --json) and its job's summary,
// with the keyring's versions afterwards, as one document printed at the end. Nothing is printed
// when the command fails before saying anything (nothing changed).
Status WithRotationJson(const GlobalOptions& global, const ReencryptRequest& request,
                        std::string_view kind,
                        const std::function<Status(const ReencryptRequest&)>& run) {
  if (!request.flags.json) return run(request);
  ReencryptRequest inner = request;
  nlohmann::json job;
  inner.flags.json_summary = &job;
  std::ostringstream said;
  std::streambuf* stdout_buffer = std::cout.rdbuf(said.rdbuf());
  Status status = run(inner);
  std::cout.rdbuf(stdout_buffer);
  if (!status.ok() && said.str().empty() && job.is_null()) return status;
  nlohmann::json messages = nlohmann::json::array();
  std::istringstream lines(said.str());
  for (std::string line; std::getline(lines, line);) messages.push_back(line);
  nlohmann::json document = {{"rotation", kind}, {"messages", std::move(messages)}, {"job", job}};
  if (Result<std::unique_ptr<db::Store>> store = OpenMigratedStore(global); store.ok()) {
    if (Result<std::optional<KeyringRecords>> records = (*store)->LoadKeyring();
        records.ok() && records->has_value()) {
      document["active_master_version"] = ActiveMasterVersion(**records);
      document["current_root_version"] = CurrentRootVersion(**records);
    }
  }
  PrintJson(document);
  return status;
}

void AddKeyringCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  CLI::App* init = app.add_subcommand(
      "init", "create the keyring: root key version 1 (this node's K0) and "
              "master key version 1");
  init->callback([&] { action = [&] { return RunInit(global); }; });

  auto source = std::make_shared<NewKeySource>();
  CLI::App* rotate_k0 = app.add_subcommand(
      "rotate-k0", "make a new root key current (needs the current one as this node's K0); "
                   "values are not touched");
  CLI::Option_group* key_group =
      rotate_k0->add_option_group("new key", "where the new root key comes from: exactly one");
  key_group->add_option("--new-key", source->argument,
                        "the new root key, 64 hex characters, or - to read it from stdin");
  key_group->add_option("--new-key-file", source->path, "a file holding the new root key");
  key_group->require_option(1);
  auto k0_reencrypt = std::make_shared<ReencryptRequest>();
  AddReencryptRequestFlags(rotate_k0, *k0_reencrypt,
                           "then migrate every value to the active master key (resumable job)");
  rotate_k0->callback([&, source, k0_reencrypt] {
    action = [&, source, k0_reencrypt] {
      return WithRotationJson(global, *k0_reencrypt, "root", [&](const ReencryptRequest& request) {
        return RunRotateRootKey(global, *source, request);
      });
    };
  });

  CLI::App* rotate_master = app.add_subcommand(
      "rotate-master-key", "make a new random master key active; older versions stay readable");
  auto master_reencrypt = std::make_shared<ReencryptRequest>();
  AddReencryptRequestFlags(rotate_master, *master_reencrypt,
                           "then migrate every value to the new master key now (resumable job)");
  auto if_due = std::make_shared<bool>(false);
  rotate_master->add_flag("--if-due", *if_due,
                          "rotate only when the policy says the active master key is due "
                          "(`udmg-server policy show`); says why either way, exit 0 both ways");
  rotate_master->callback([&, master_reencrypt, if_due] {
    action = [&, master_reencrypt, if_due] {
      return WithRotationJson(global, *master_reencrypt, "master",
                              [&](const ReencryptRequest& request) {
                                return RunRotateMasterKey(global, request, *if_due);
                              });
    };
  });
}

}  // namespace udmg::cli
