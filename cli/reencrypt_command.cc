#include "cli/reencrypt_command.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <stop_token>
#include <thread>

#include "base/time_text.h"
#include "cli/dry_run.h"
#include "cli/duration.h"
#include "cli/json_reports.h"
#include "cli/output.h"
#include "db/statement_cancel.h"
#include "pipeline/control.h"
#include "pipeline/job_gates.h"
#include "pipeline/lock_wait_watch.h"
#include "pipeline/progress.h"
#include "pipeline/throttle.h"

namespace udmg::cli {
namespace {

// Set by SIGINT/SIGTERM (a lock-free atomic store is async-signal-safe) and by the stop file.
std::atomic<bool> g_stop_requested{false};

extern "C" void RequestStop(int) { g_stop_requested.store(true); }

// Installs the stop handlers for the life of a job; the previous handlers come back after it.
class StopSignals {
 public:
  StopSignals() {
    g_stop_requested.store(false);
    struct sigaction action {};
    action.sa_handler = RequestStop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

// While a job runs: once a stop is asked (signal, stop file) or its run time is over, cancels its
// database statements still running (a lock wait would otherwise outlast every signal), and says
// once which backend waits when a statement has run for a while. Helper B's stop checks during
// rate waits are separate: this covers time spent inside the database.
class StatementWatch {
 public:
  // `lock_waits` (must outlive this) is polled at each round.
  StatementWatch(std::function<bool()> stop_requested,
                 std::optional<std::chrono::steady_clock::time_point> deadline,
                 pipeline::LockWaitWatch& lock_waits)
      : thread_([stop_requested, deadline, &lock_waits](std::stop_token token) {
          Watch(token, stop_requested, deadline, lock_waits);
        }) {}

 private:
  static void Watch(std::stop_token token, const std::function<bool()>& stop_requested,
                    std::optional<std::chrono::steady_clock::time_point> deadline,
                    pipeline::LockWaitWatch& lock_waits) {
    using namespace std::chrono_literals;
    bool said = false;
    while (!token.stop_requested()) {
      if (stop_requested() || (deadline && std::chrono::steady_clock::now() >= *deadline)) {
        // 500 ms: the bookkeeping of a job that is stopping is never cut short.
        db::CancelStatementsRunningFor(500ms);
      }
      std::optional<db::RunningStatementInfo> longest = db::LongestRunningStatement();
      if (!said && longest && longest->running_for >= 5s) {
        said = true;
        PrintWarning("waiting for the database: a statement of this job has run for 5 s on "
                     "PostgreSQL backend " + std::to_string(longest->backend_pid) +
                     " (SELECT pg_blocking_pids(" + std::to_string(longest->backend_pid) +
                     ") names what it waits for); a signal, the stop file or the run time still "
                     "stop the job at once");
      }
      lock_waits.Poll();
      std::this_thread::sleep_for(100ms);
    }
  }

  std::jthread thread_;
};

Result<pipeline::Duration> OptionalDuration(const std::optional<std::string>& text,
                                            std::string_view flag) {
  if (!text) return pipeline::Duration{0};
  Result<std::chrono::seconds> parsed = ParseDuration(*text);
  if (!parsed.ok()) {
    return Error{ErrorCode::kUsage, std::string(flag) + ": " + parsed.error().message};
  }
  return pipeline::Duration(*parsed);
}

// "0.60 s": enough digits for a person, not a float's worth.
std::string SecondsText(std::chrono::steady_clock::duration elapsed) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", std::chrono::duration<double>(elapsed).count());
  return text;
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
  std::cout << label << " " << job.kind << " job " << job.id << ": state " << job.state
            << ", target master key version " << job.target_version << ", created "
            << UtcText(job.created_at) << ", updated " << UtcText(job.updated_at) << "\n";
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
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished, store->FindUnfinishedJob(kind));
  if (unfinished && !pipeline::IsResumableJob(*unfinished)) unfinished.reset();
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> finished,
                        store->FindLatestFinishedJob(kind));
  if (unfinished) {
    PrintJob("unfinished", *unfinished);
    if (unfinished->state == "running" && unfinished->waiting) {
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

Status SendControl(const GlobalOptions& global, const JobFlags& flags, const std::string& line) {
  std::string url = db::ResolveDatabaseUrl(global.database_url);
  std::string path = flags.control_socket.value_or(pipeline::DefaultControlSocketPath(url));
  UDMG_ASSIGN_OR_RETURN(std::string reply, pipeline::SendControlCommand(path, line));
  std::cout << reply << "\n";
  return Status::Ok();
}

}  // namespace

// A job whose process died (kill -9, a lost node) stays "running" in the database and blocks
// passphrase-restore and prune-keys; resuming it needs K0, which a disaster may have taken.
// Marking it stopped needs only the database, signals nothing, and the next run resumes it.
Status MarkJobStopped(const GlobalOptions& global, std::string_view kind) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store->FindUnfinishedJob(kind));
  if (!job || job->state != "running") {
    return Status(ErrorCode::kNotFound,
                  "no " + std::string(kind) + " job is running in this database: nothing to mark");
  }
  UDMG_RETURN_IF_ERROR(store->SetJobState(job->id, "stopped"));
  std::cout << kind << " job " << job->id << " marked stopped (last checkpoint "
            << UtcText(job->updated_at) << "); `udmg-server " << kind
            << "` resumes it from there\n";
  return Status::Ok();
}

Result<std::unique_ptr<MetricsOutputs>> StartJobMetricsOutputs(const JobFlags& flags,
                                                               std::string_view kind) {
  if (!flags.metrics.any()) return std::unique_ptr<MetricsOutputs>();
  return MetricsOutputs::Start(flags.metrics, std::string(kind));
}

void AddJobFlags(CLI::App* command, JobFlags& flags) {
  command->add_option("--batch-size", flags.batch_size, "rows per batch")
      ->check(CLI::Range(size_t{1}, pipeline::kMaxBatchSize));
  command->add_option("--batches-in-flight", flags.batches_in_flight,
                      "batches read but not yet written, at most (memory bound)")
      ->check(CLI::Range(size_t{1}, size_t{1024}));
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
  command->add_option("--max-failures", flags.max_failures,
                      "stop once more than N values failed to decrypt");
  command->add_option("--stop-file", flags.stop_file,
                      "stop at a batch boundary once this file exists");
  command->add_option("--control-socket", flags.control_socket,
                      "live control socket (default: <database file>.control)");
  command->add_flag("--include-plaintext", flags.include_plaintext,
                    "also encrypt legacy plaintext values");
  command->add_flag("--no-progress", flags.no_progress, "no progress lines on stderr");
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
  AddMetricsFlags(command, flags.metrics);
}

// The job's gates (pause file, replica lag) as the flags set them.
Result<pipeline::JobGateOptions> GateOptions(const GlobalOptions& global, const JobFlags& flags) {
  pipeline::JobGateOptions gates;
  gates.pause_file = flags.pause_file;
  UDMG_ASSIGN_OR_RETURN(gates.max_replica_lag,
                        OptionalDuration(flags.max_replica_lag, "--max-replica-lag"));
  gates.database_url = db::ResolveDatabaseUrl(global.database_url);
  return gates;
}

Status CheckJobFlags(const GlobalOptions& global, const JobFlags& flags) {
  UDMG_RETURN_IF_ERROR(
      OptionalDuration(flags.critical_write_latency, "--critical-write-latency").status());
  UDMG_ASSIGN_OR_RETURN(pipeline::JobGateOptions gates, GateOptions(global, flags));
  return pipeline::ValidateJobGateOptions(gates);
}

Status RunJobDryRun(const GlobalOptions& global, const JobFlags& flags, std::string_view kind,
                    bool resume_only) {
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  if (resume_only) {
    // What the real run answers (job_state.cc), before any line of the plan.
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished,
                          view.store->FindUnfinishedJob(kind));
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
              std::shared_ptr<const Keyring> keyring, pipeline::ResumeMode mode,
              std::string_view kind, MetricsOutputs* outputs) {
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration target_batch_time,
                        OptionalDuration(flags.target_batch_time, "--target-batch-time"));
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration max_write_latency,
                        OptionalDuration(flags.max_write_latency, "--max-write-latency"));
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration run_time,
                        OptionalDuration(flags.run_time, "--run-time"));
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration lease, OptionalDuration(flags.lease, "--lease"));
  UDMG_ASSIGN_OR_RETURN(pipeline::Duration critical_write_latency,
                        OptionalDuration(flags.critical_write_latency, "--critical-write-latency"));
  UDMG_ASSIGN_OR_RETURN(pipeline::JobGateOptions gates, GateOptions(global, flags));
  pipeline::ThrottleOptions throttle_options;
  throttle_options.rows_per_second = flags.rate;
  throttle_options.batch_size = flags.batch_size;
  throttle_options.target_batch_time = target_batch_time;
  throttle_options.max_write_latency = max_write_latency;
  throttle_options.critical_write_latency = critical_write_latency;
  pipeline::Clock& clock = pipeline::SteadyClock();
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<pipeline::Throttle> throttle,
                        pipeline::Throttle::Create(throttle_options, clock));
  UDMG_RETURN_IF_ERROR(pipeline::AddJobGates(*throttle, gates, clock,
                                             [](std::string_view line) { PrintWarning(line); }));

  std::string url = db::ResolveDatabaseUrl(global.database_url);
  // What a waiting statement waits for: shown by the progress line, the control channel's status
  // and the metrics, and stored on the job row for `reencrypt --status`.
  pipeline::LockWaitBoard lock_wait_board;
  std::atomic<int64_t> job_id{0};
  pipeline::LockWaitWatch lock_wait_watch(url, lock_wait_board, job_id);
  pipeline::ProgressTracker tracker(clock, 0);
  tracker.WatchLockWaits(&lock_wait_board);
  pipeline::ControlCommands commands(*throttle, &tracker);
  std::string socket_path = flags.control_socket.value_or(pipeline::DefaultControlSocketPath(url));
  auto control = pipeline::ControlServer::Start(socket_path, commands);
  if (!control.ok()) {
    PrintWarning("live control is off: " + control.error().message);
  }
  JobMetricsRun metrics_run(outputs, url, throttle.get(), flags.batch_size, &commands);
  metrics_run.WatchLockWaits(&lock_wait_board);

  std::cout.flush();  // what the command printed so far comes before the progress lines
  StopSignals signals;
  auto stop_requested = [&flags] {
    if (flags.stop_file && std::filesystem::exists(*flags.stop_file)) g_stop_requested = true;
    return g_stop_requested.load();
  };

  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (run_time > pipeline::Duration::zero()) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(run_time);
  }
  StatementWatch watch(stop_requested, deadline, lock_wait_watch);

  pipeline::ReencryptOptions options;
  options.database_url = url;
  options.keyring = std::move(keyring);
  options.job_kind = std::string(kind);
  options.resume = mode;
  options.include_plaintext = flags.include_plaintext;
  options.batch_size = flags.batch_size;
  options.batches_in_flight = flags.batches_in_flight;
  options.run_time = std::chrono::duration_cast<std::chrono::steady_clock::duration>(run_time);
  options.max_failures = flags.max_failures;
  options.shared = flags.shared;
  options.lease = std::chrono::duration_cast<std::chrono::milliseconds>(lease);
  options.rows_per_range = flags.range_rows;
  options.stop = &g_stop_requested;
  options.warn = [](std::string_view line) { PrintWarning(line); };
  options.hooks.before_fetch = [&](size_t, const pipeline::StopCheck& must_stop) {
    return throttle->AdmitNextBatch([&] { return stop_requested() || must_stop(); });
  };
  options.hooks.after_commit = [&](const pipeline::BatchCommitted& batch) {
    throttle->RecordBatchWrite(batch.rows, batch.write_time);
  };
  options.hooks.on_job_running = [&](int64_t id) { job_id = id; };
  options.hooks.on_progress = [&](const pipeline::ProgressSnapshot& snapshot) {
    SetLogJobId(snapshot.job_id);
    tracker.Update(snapshot.done, snapshot.total);
  };
  metrics_run.Instrument(options.hooks, options.batches_in_flight_now);

  std::optional<pipeline::ProgressReporter> reporter;
  if (!flags.no_progress) {
    pipeline::ProgressReporterOptions reporter_options;
    if (CurrentLogFormat() == LogFormat::kJson) {
      reporter_options.log_line = [](std::string_view line) { PrintNotice(line); };
    } else {
      reporter_options.terminal = isatty(STDERR_FILENO) == 1;
    }
    reporter.emplace(tracker, throttle.get(), stderr, clock, reporter_options);
    reporter->Start();
  }
  Result<pipeline::ReencryptReport> report = pipeline::RunReencryption(options);
  if (reporter) reporter->Stop();
  if (control.ok()) (*control)->Stop();
  // A job a signal or the stop file ended is not kept alive for a scrape: its operator wants
  // it gone (a run-time stop lingers, as any other end).
  metrics_run.Finish(report.ok() ? pipeline::FinalRunState(*report)
                                 : pipeline::JobRunState::kFailed,
                     /*may_linger=*/!g_stop_requested.load());
  if (!report.ok()) return report.status();
  SetLogJobId(report->job_id);
  if (flags.json && flags.json_summary != nullptr) {
    *flags.json_summary = ReencryptJson(*report);
  } else if (flags.json) {
    PrintJson(ReencryptJson(*report));
  } else {
    PrintReport(*report, kind);
  }
  return pipeline::ReportStatus(*report, throttle->Stats().stop_reason);
}

void AddReencryptCommand(CLI::App& app, const GlobalOptions& global,
                         std::function<Status()>& action) {
  struct Args {
    JobFlags flags;
    bool resume = false;
    bool status = false;
    bool mark_stopped = false;
    std::optional<std::string> control;
  };
  auto args = std::make_shared<Args>();
  CLI::App* reencrypt = app.add_subcommand(
      "reencrypt", "migrate every registered value to the active master key now (resumable: run "
                   "it again after an interruption)");
  AddJobFlags(reencrypt, args->flags);
  reencrypt->add_flag("--json", args->flags.json,
                      "print the summary as one JSON document (docs/json.md)");
  reencrypt->add_flag("--resume", args->resume,
                      "only continue an interrupted job (exit 6 if none)");
  reencrypt->add_flag("--status", args->status, "show the unfinished job and exit");
  reencrypt->add_flag("--mark-stopped", args->mark_stopped,
                      "mark the running job stopped after its process died (kill -9, a lost "
                      "node): needs no key, signals nothing; the next run resumes it");
  reencrypt->add_option("--control", args->control,
                        "send a command to the running job: status, pause, resume, rate[=N], "
                        "batch-size[=N]");
  reencrypt->callback([&, args] {
    action = [&, args]() -> Status {
      if (args->status) return PrintJobStatus(global, pipeline::kReencryptJobKind);
      if (args->mark_stopped) return MarkJobStopped(global, pipeline::kReencryptJobKind);
      if (args->control) return SendControl(global, args->flags, *args->control);
      UDMG_RETURN_IF_ERROR(CheckJobFlags(global, args->flags));
      if (args->flags.dry_run) {
        return RunJobDryRun(global, args->flags, pipeline::kReencryptJobKind, args->resume);
      }
      // Before the database is opened: a bad flag or a busy port changes nothing.
      UDMG_ASSIGN_OR_RETURN(std::unique_ptr<MetricsOutputs> outputs,
                            StartJobMetricsOutputs(args->flags, pipeline::kReencryptJobKind));
      UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
      pipeline::ResumeMode mode = args->resume ? pipeline::ResumeMode::kResumeOnly
                                               : pipeline::ResumeMode::kResumeOrStart;
      return RunJob(global, args->flags, client->shared_keyring(), mode,
                    pipeline::kReencryptJobKind, outputs.get());
    };
  });
}

}  // namespace udmg::cli
