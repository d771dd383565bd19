#include "cli/reencrypt_command.h"

#include <unistd.h>

#include <functional>
#include <iostream>
#include <optional>

#include "base/time_text.h"
#include "cli/commands.h"
#include "cli/dry_run.h"
#include "cli/duration.h"
#include "cli/json_reports.h"
#include "cli/output.h"
#include "pipeline/control.h"
#include "pipeline/progress.h"

namespace udmg::cli {
namespace {

Result<pipeline::Duration> OptionalDuration(const std::optional<std::string>& text,
                                            std::string_view flag) {
  if (!text) return pipeline::Duration{0};
  Result<std::chrono::seconds> parsed = ParseDuration(*text);
  if (!parsed.ok()) {
    return Error{ErrorCode::kUsage, std::string(flag) + ": " + parsed.error().message};
  }
  return pipeline::Duration(*parsed);
}

void PrintReport(const pipeline::ReencryptReport& report, std::string_view kind) {
  for (const pipeline::ColumnReport& column : report.columns) {
    std::cout << column.column.Name() << ": migrated " << column.migrated << ", conflicts "
              << column.conflicts << ", failed " << column.failed << ", remaining "
              << column.remaining << ", unmigratable " << column.unmigratable << ", passes "
              << column.passes << "\n";
  }
  std::cout << kind << " job " << report.job_id << (report.resumed ? " (resumed)" : "")
            << " to master key version " << report.target_version << " "
            << pipeline::ReencryptOutcomeName(report.outcome) << ": migrated " << report.migrated
            << ", conflicts " << report.conflicts << ", failed " << report.failed
            << ", remaining " << report.remaining << ", unmigratable " << report.unmigratable
            << ", " << report.batches << " batches in " << SecondsText(report.elapsed) << "\n";
}

std::string CheckpointText(const db::JobColumnProgress& progress) {
  return progress.checkpoint ? db::RowKeyText(*progress.checkpoint) : "(start)";
}

void PrintJob(std::string_view label, const db::JobRecord& job) {
  std::cout << label << " " << job.kind << " job " << job.id << ": state "
            << db::JobStateName(job.state) << ", target master key version " << job.target_version
            << ", created " << UtcText(job.created_at) << ", updated " << UtcText(job.updated_at)
            << "\n";
  for (const db::JobColumnProgress& progress : job.columns) {
    std::cout << "  " << progress.column.Name() << ": checkpoint " << CheckpointText(progress)
              << ", migrated " << progress.migrated << ", conflicts " << progress.conflicts
              << ", failed " << progress.failed << (progress.scanned ? ", scanned" : "") << "\n";
  }
}

Status PrintFailureCount(db::Store& store, const db::JobRecord& job) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::FailureRecord> failures, store.ListFailures(job.id));
  if (!failures.empty()) {
    std::cout << "  " << failures.size() << " values do not decrypt (udmg_reencrypt_failures)\n";
  }
  return Status::Ok();
}

// What is really left of an unfinished job, counted now per column (stale values under the job's
// target; legacy plaintext is not counted, as the job does not record --include-plaintext), and
// the columns it will leave out or cannot reach.
Status PrintRemaining(db::Store& store, const db::JobRecord& job) {
  uint64_t total = 0;
  for (const db::JobColumnProgress& progress : job.columns) {
    std::cout << "  " << progress.column.Name() << ": ";
    Result<db::ColumnRef> registered =
        store.FindColumn(progress.column.table, progress.column.column);
    if (!registered.ok() && registered.error().code == ErrorCode::kNotFound) {
      std::cout << "unregistered, left out when the job resumes\n";
      continue;
    }
    UDMG_RETURN_IF_ERROR(registered.status());
    UDMG_ASSIGN_OR_RETURN(std::string missing, pipeline::MissingReason(store, *registered));
    if (!missing.empty()) {
      std::cout << "MISSING: " << missing << "\n";
      continue;
    }
    UDMG_ASSIGN_OR_RETURN(uint64_t stale,
                          store.CountStale(*registered, db::StaleFilter{job.target_version}));
    std::cout << "remaining " << stale << "\n";
    total += stale;
  }
  std::cout << "  remaining " << total << " (values not yet under master key version "
            << job.target_version << ", counted now)\n";
  return Status::Ok();
}

// The job to resume (if any) and the last one that finished, so an operator sees both what is
// pending and how the previous run ended.
Status PrintJobStatus(const GlobalOptions& global, std::string_view kind) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished, store->FindLatestJobNotDone(kind));
  if (unfinished && !pipeline::IsResumableJob(*unfinished)) unfinished.reset();
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> finished,
                        store->FindLatestFinishedJob(kind));
  if (unfinished) {
    PrintJob("unfinished", *unfinished);
    if (unfinished->state == db::JobState::kRunning && unfinished->waiting) {
      // Counting would wait behind the same lock.
      const db::JobWait& wait = *unfinished->waiting;
      std::cout << "  " << pipeline::DescribeLockWait(wait.blocking_pids,
                                                       static_cast<double>(NowSeconds() - wait.since))
                << ", since " << UtcText(wait.since)
                << "; remaining not counted (the count would wait for the same lock)\n";
    } else {
      UDMG_RETURN_IF_ERROR(PrintRemaining(*store, *unfinished));
    }
    UDMG_RETURN_IF_ERROR(PrintFailureCount(*store, *unfinished));
  } else {
    std::cout << "no unfinished " << kind << " job\n";
  }
  if (finished) {
    PrintJob("last finished", *finished);
    UDMG_RETURN_IF_ERROR(PrintFailureCount(*store, *finished));
  } else {
    std::cout << "no finished " << kind << " job\n";
  }
  return Status::Ok();
}

}  // namespace

pipeline::JobRunState ErrorRunState(const Error& error) {
  return error.code == ErrorCode::kIncomplete ? pipeline::JobRunState::kStopped
                                              : pipeline::JobRunState::kFailed;
}

Status SendControl(const GlobalOptions& global, const RunnerFlags& flags, const std::string& line) {
  std::string url = db::ResolveDatabaseUrl(global.database_url);
  std::string path = flags.control_socket.value_or(pipeline::DefaultControlSocketPath(url));
  UDMG_ASSIGN_OR_RETURN(std::string reply, pipeline::SendControlCommand(path, line));
  std::cout << reply << "\n";
  return Status::Ok();
}

// A job whose process died (kill -9, a lost node) stays "running" in the database and blocks
// passphrase-restore and prune-keys; resuming it needs K0, which a disaster may have taken.
// Marking it stopped needs only the database, signals nothing, and the next run resumes it.
Status MarkJobStopped(const GlobalOptions& global, std::string_view kind) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store->FindLatestJobNotDone(kind));
  if (!job || job->state != db::JobState::kRunning) {
    return Status(ErrorCode::kNotFound,
                  "no " + std::string(kind) + " job is running in this database: nothing to mark");
  }
  SignAuditEntriesIfKeyed(*store, global);
  UDMG_RETURN_IF_ERROR(store->SetJobState(job->id, db::JobState::kStopped));
  std::cout << kind << " job " << job->id << " marked stopped (last checkpoint "
            << UtcText(job->updated_at) << "); `udmg-server " << kind
            << "` resumes it from there\n";
  return Status::Ok();
}

Result<std::unique_ptr<MetricsOutputs>> StartJobMetricsOutputs(const RunnerFlags& flags,
                                                               std::string_view kind) {
  if (!flags.metrics.any()) return std::unique_ptr<MetricsOutputs>();
  return MetricsOutputs::Start(flags.metrics, std::string(kind));
}

void AddRunnerFlags(CLI::App* command, RunnerFlags& flags) {
  command->add_option("--rate", flags.rate, "rows per second, 0 = unlimited")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--target-batch-time", flags.target_batch_time,
                      "adapt the batch size so that a write takes about this long (e.g. 1s)");
  command->add_option("--max-write-latency", flags.max_write_latency,
                      "pause while a batch write takes longer than this");
  command->add_option("--critical-write-latency", flags.critical_write_latency,
                      "stop (exit 10, resumable) once a batch write takes longer than this");
  command->add_option("--pause-file", flags.pause_file,
                      "pause at a batch boundary while this file exists (remove it to resume)");
  command->add_option("--max-replica-lag", flags.max_replica_lag,
                      "PostgreSQL: pause while a streaming replica lags more than this");
  command->add_option("--run-time", flags.run_time,
                      "stop starting batches after this long (90s, 5m, 1h30m); resume later");
  command->add_option("--stop-file", flags.stop_file,
                      "stop at a batch boundary once this file exists");
  command->add_option("--control-socket", flags.control_socket,
                      "live control socket (default: <database file>.control)");
  command->add_flag("--no-progress", flags.no_progress, "no progress lines on stderr");
  AddMetricsFlags(command, flags.metrics);
}

void AddJobFlags(CLI::App* command, JobFlags& flags) {
  command->add_option("--batch-size", flags.batch_size, "rows per batch")
      ->check(CLI::Range(size_t{1}, pipeline::kMaxBatchSize));
  command->add_option("--batches-in-flight", flags.batches_in_flight,
                      "batches read but not yet written, at most (memory bound)")
      ->check(CLI::Range(size_t{1}, size_t{1024}));
  command->add_option("--max-failures", flags.max_failures,
                      "stop once more than N values failed to decrypt");
  command->add_flag("--include-plaintext", flags.include_plaintext,
                    "also encrypt legacy plaintext values");
  command->add_flag("--shared", flags.shared,
                    "share the job with other processes: each claims key ranges under a lease");
  command->add_option("--lease", flags.lease,
                      "with --shared: a range whose process stopped renewing it for this long "
                      "is claimed by another (default 30s)");
  command->add_option("--range-rows", flags.range_rows,
                      "with --shared: stale rows per key range when the job is created")
      ->check(CLI::PositiveNumber);
  command->add_flag("--dry-run", flags.dry_run,
                    "print the plan (versions, stale values per column, the job, an estimate) "
                    "and write nothing");
  AddRunnerFlags(command, flags);
}

void AddJobControlFlags(CLI::App* command, const std::string& job_word, bool& mark_stopped,
                        std::optional<std::string>& control) {
  command->add_flag("--mark-stopped", mark_stopped,
                    "mark the running " + job_word +
                        " stopped after its process died (kill -9, a lost node): needs no key, "
                        "signals nothing; the next run resumes it");
  command->add_option("--control", control,
                      "send a command to the running " + job_word +
                          ": status, pause, resume, rate[=N], batch-size[=N]");
}

// The job's gates (pause file, replica lag) as the flags set them.
Result<pipeline::JobGateOptions> GateOptions(const GlobalOptions& global,
                                             const RunnerFlags& flags) {
  pipeline::JobGateOptions gates;
  gates.pause_file = flags.pause_file;
  UDMG_ASSIGN_OR_RETURN(gates.max_replica_lag,
                        OptionalDuration(flags.max_replica_lag, "--max-replica-lag"));
  gates.database_url = db::ResolveDatabaseUrl(global.database_url);
  return gates;
}

Status CheckRunnerFlags(const GlobalOptions& global, const RunnerFlags& flags) {
  UDMG_RETURN_IF_ERROR(
      OptionalDuration(flags.critical_write_latency, "--critical-write-latency").status());
  UDMG_RETURN_IF_ERROR(OptionalDuration(flags.run_time, "--run-time").status());
  UDMG_ASSIGN_OR_RETURN(pipeline::JobGateOptions gates, GateOptions(global, flags));
  return pipeline::ValidateJobGateOptions(gates);
}

Status CheckJobFlags(const GlobalOptions& global, const JobFlags& flags) {
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration lease, OptionalDuration(flags.lease, "--lease"));
  if (lease <= pipeline::Duration::zero()) {
    return Status(ErrorCode::kUsage, "--lease must be positive (e.g. 30s)");
  }
  return CheckRunnerFlags(global, flags);
}

Result<std::unique_ptr<pipeline::JobRunner>> StartJobRunner(const GlobalOptions& global,
                                                            const RunnerFlags& flags,
                                                            size_t batch_size,
                                                            std::string_view kind) {
  pipeline::JobRunSpec spec;
  spec.database_url = db::ResolveDatabaseUrl(global.database_url);
  spec.throttle.rows_per_second = flags.rate;
  spec.throttle.batch_size = batch_size;
  UDMG_ASSIGN_OR_RETURN(spec.throttle.target_batch_time,
                        OptionalDuration(flags.target_batch_time, "--target-batch-time"));
  UDMG_ASSIGN_OR_RETURN(spec.throttle.max_write_latency,
                        OptionalDuration(flags.max_write_latency, "--max-write-latency"));
  UDMG_ASSIGN_OR_RETURN(spec.throttle.critical_write_latency,
                        OptionalDuration(flags.critical_write_latency, "--critical-write-latency"));
  UDMG_ASSIGN_OR_RETURN(spec.run_time, OptionalDuration(flags.run_time, "--run-time"));
  UDMG_ASSIGN_OR_RETURN(spec.gates, GateOptions(global, flags));
  spec.stop_file = flags.stop_file;
  spec.control_socket =
      flags.control_socket.value_or(pipeline::DefaultControlSocketPath(spec.database_url));
  const bool terminal = isatty(STDERR_FILENO) == 1;
  // A sweep is the cron and systemd job: off a terminal, its stderr is mailed or kept in the
  // journal, and its summary already says what it did.
  spec.progress = !flags.no_progress && (terminal || kind != pipeline::kSweepJobKind);
  spec.progress_options.job_kind = std::string(kind);
  if (CurrentLogFormat() == LogFormat::kJson) {
    spec.progress_options.log_line = [](std::string_view line) { PrintNotice(line); };
  } else {
    spec.progress_options.terminal = terminal;
  }
  spec.warn = PrintWarning;
  std::cout.flush();  // what the command printed so far comes before the progress lines
  return pipeline::JobRunner::Start(std::move(spec));
}

Status RunJobDryRun(const GlobalOptions& global, const JobFlags& flags, std::string_view kind,
                    bool resume_only) {
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  if (resume_only) {
    // What the real run answers (job_state.cc), before any line of the plan.
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished,
                          view.store->FindLatestJobNotDone(kind));
    if (!unfinished || !pipeline::IsResumableJob(*unfinished)) {
      return Error{ErrorCode::kNotFound, "no interrupted " + std::string(kind) +
                                             " job to resume: run it without --resume to start one"};
    }
  }
  PrintDryRunVersions(view.records, view.records);
  JobDryRun job{kind, view.keyring->active_version(), flags.include_plaintext, flags.batch_size,
                flags.rate, std::nullopt};
  return PrintJobDryRun(*view.store, view.keyring, job);
}

Status RunJob(const GlobalOptions& global, const JobFlags& flags,
              std::shared_ptr<const Keyring> keyring, const db::AuditSigner& signer,
              pipeline::ResumeMode mode, std::string_view kind, MetricsOutputs* outputs) {
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration lease, OptionalDuration(flags.lease, "--lease"));
  // Before any database read of the job (the metrics' key state too).
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<pipeline::JobRunner> runner,
                        StartJobRunner(global, flags, flags.batch_size, kind));
  std::string url = db::ResolveDatabaseUrl(global.database_url);
  JobMetricsRun metrics_run(outputs, url, &runner->throttle(), flags.batch_size,
                            &runner->commands());
  metrics_run.WatchLockWaits(&runner->lock_waits());

  pipeline::ReencryptOptions options;
  options.database_url = url;
  options.keyring = std::move(keyring);
  options.audit_signer = signer;
  options.job_kind = std::string(kind);
  options.resume = mode;
  options.include_plaintext = flags.include_plaintext;
  options.batch_size = flags.batch_size;
  options.batches_in_flight = flags.batches_in_flight;
  options.run_time = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      runner->run_time());
  options.max_failures = flags.max_failures;
  options.shared = flags.shared;
  options.lease = std::chrono::duration_cast<std::chrono::milliseconds>(lease);
  options.rows_per_range = flags.range_rows;
  options.stop = runner->stop_flag();
  options.warn = PrintWarning;
  options.hooks.on_progress = [](const pipeline::ProgressSnapshot& snapshot) {
    SetLogJobId(snapshot.job_id);
  };
  runner->Instrument(options.hooks);
  metrics_run.Instrument(options.hooks, options.batches_in_flight_now);

  Result<pipeline::ReencryptReport> report =
      runner->Run([&] { return pipeline::RunReencryption(options); });
  // A job a signal or the stop file ended is not kept alive for a scrape: its operator wants
  // it gone (a run-time stop lingers, as any other end).
  metrics_run.Finish(report.ok() ? pipeline::FinalRunState(*report) : ErrorRunState(report.error()),
                     /*may_linger=*/!runner->StopRequested());
  if (!report.ok()) return report.status();
  SetLogJobId(report->job_id);
  if (flags.json && flags.json_summary != nullptr) {
    *flags.json_summary = ReencryptJson(*report);
  } else if (flags.json) {
    PrintJson(ReencryptJson(*report));
  } else {
    PrintReport(*report, kind);
  }
  return pipeline::ReportStatus(*report, runner->WhyStopped());
}

namespace {

struct ReencryptArgs {
  JobFlags flags;
  bool resume = false;
  bool status = false;
  bool mark_stopped = false;
  std::optional<std::string> control;
};

Status RunReencrypt(const GlobalOptions& global, const ReencryptArgs& args) {
  if (args.status) return PrintJobStatus(global, pipeline::kReencryptJobKind);
  if (args.mark_stopped) return MarkJobStopped(global, pipeline::kReencryptJobKind);
  if (args.control) return SendControl(global, args.flags, *args.control);
  UDMG_RETURN_IF_ERROR(CheckJobFlags(global, args.flags));
  if (args.flags.dry_run) {
    return RunJobDryRun(global, args.flags, pipeline::kReencryptJobKind, args.resume);
  }
  // Before the database is opened: a bad flag or a busy port changes nothing.
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<MetricsOutputs> outputs,
                        StartJobMetricsOutputs(args.flags, pipeline::kReencryptJobKind));
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  pipeline::ResumeMode mode =
      args.resume ? pipeline::ResumeMode::kResumeOnly : pipeline::ResumeMode::kResumeOrStart;
  return RunJob(global, args.flags, client->shared_keyring(), client->store().audit_signer(), mode,
                pipeline::kReencryptJobKind, outputs.get());
}

}  // namespace

void AddReencryptCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [reencrypt, args] = AddCommand<ReencryptArgs>(
      app, action, "reencrypt",
      "migrate every registered value to the active master key now (resumable: run it again "
      "after an interruption)",
      [&global](const ReencryptArgs& args) { return RunReencrypt(global, args); });
  AddJobFlags(reencrypt, args->flags);
  reencrypt->add_flag("--json", args->flags.json,
                      "print the summary as one JSON document (docs/json.md)");
  reencrypt->add_flag("--resume", args->resume,
                      "only continue an interrupted job (exit 6 if none)");
  reencrypt->add_flag("--status", args->status, "show the unfinished job and exit");
  AddJobControlFlags(reencrypt, "job", args->mark_stopped, args->control);
}

}  // namespace udmg::cli
