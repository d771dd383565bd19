#include "pipeline/sweep.h"

#include <algorithm>
#include <map>
#include <utility>

#include "pipeline/job_state.h"

namespace udmg::pipeline {

std::string_view SweepStopName(SweepStop stop) {
  switch (stop) {
    case SweepStop::kScannedAll: return "completed";
    case SweepStop::kMaxRows: return "max-rows";
    case SweepStop::kMaxDuration: return "max-duration";
    case SweepStop::kKeyringChanged: return "keyring-changed";
    case SweepStop::kRunTime: return "run-time";
    case SweepStop::kStopped: return "stopped";
  }
  return "completed";
}

namespace {

// What the fetch stage's keyring check found (written by the fetch stage only, read after the run).
struct KeyringWatch {
  std::shared_ptr<const Keyring> keyring;  // the one the run migrates to
  std::optional<Error> error;              // e.g. WrongRootKeyError: the run must fail with it
  bool changed = false;                    // a rotation by another process: stop, next run follows
};

Status ValidateSweepOptions(const SweepOptions& options) {
  if (options.batch_size == 0) {
    return Status(ErrorCode::kBadInput, "sweep batch size must be at least 1");
  }
  if (options.batches_in_flight == 0) {
    return Status(ErrorCode::kBadInput, "sweep batches in flight must be at least 1");
  }
  if (options.database_url.empty() && !options.open_store) {
    return Status(ErrorCode::kBadInput,
                  "sweep was given no database to open its connections on (a bug in the caller)");
  }
  if (options.max_duration && *options.max_duration < std::chrono::nanoseconds::zero()) {
    return Status(ErrorCode::kBadInput, "the sweep's duration limit must not be negative",
                  "max_duration");
  }
  if (options.run_time && *options.run_time < std::chrono::nanoseconds::zero()) {
    return Status(ErrorCode::kBadInput, "the run time must not be negative", "run_time");
  }
  return Status::Ok();
}

// The shorter of max_duration and run_time: the pipeline has one time budget.
std::optional<std::chrono::nanoseconds> TimeBudget(const SweepOptions& options) {
  if (options.max_duration && options.run_time) {
    return std::min(*options.max_duration, *options.run_time);
  }
  return options.max_duration ? options.max_duration : options.run_time;
}

ReencryptOptions PipelineOptions(SecretsClient& client, const SweepOptions& options,
                                 KeyringWatch& watch) {
  ReencryptOptions pipeline;
  pipeline.database_url = options.database_url;
  pipeline.open_store = options.open_store;
  pipeline.keyring = watch.keyring;
  pipeline.audit_signer = client.store().audit_signer();
  pipeline.job_kind = std::string(kSweepJobKind);
  pipeline.resume = ResumeMode::kResumeOrStart;  // a bounded run continues the last one
  pipeline.include_plaintext = options.include_plaintext;
  pipeline.batch_size = options.batch_size;
  pipeline.batches_in_flight = options.batches_in_flight;
  pipeline.max_rows = options.max_rows.value_or(0);  // 0 is "no limit" there: see before_fetch
  if (std::optional<std::chrono::nanoseconds> budget = TimeBudget(options)) {
    // At least 1 ns: a zero budget means "start nothing", not the pipeline's "no limit".
    pipeline.run_time = std::max<std::chrono::steady_clock::duration>(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(*budget),
        std::chrono::nanoseconds(1));
  }
  pipeline.stop = options.stop;
  pipeline.clock = options.clock;
  pipeline.warn = client.warning_sink();
  pipeline.hooks.after_commit = options.hooks.after_commit;
  pipeline.hooks.on_progress = options.hooks.on_progress;
  pipeline.hooks.on_job_running = options.hooks.on_job_running;
  pipeline.batches_in_flight_now = options.batches_in_flight_now;
  // Before every batch: a K0 that stopped being current fails the run, a rotation stops it.
  bool examine_nothing = options.max_rows == uint64_t{0};
  auto observer = options.hooks.before_fetch;
  pipeline.hooks.before_fetch = [&client, &watch, examine_nothing,
                                 observer](size_t batch_size,
                                           const StopCheck& must_stop) -> size_t {
    if (examine_nothing) return 0;
    Status refreshed = client.RefreshKeyring();
    if (!refreshed.ok()) {
      watch.error = refreshed.error();
      return 0;
    }
    if (client.keyring().active_version() != watch.keyring->active_version()) {
      watch.changed = true;
      return 0;
    }
    return observer ? observer(batch_size, must_stop) : batch_size;
  };
  return pipeline;
}

SweepStop StopOf(const ReencryptReport& report, const KeyringWatch& watch,
                 const SweepOptions& options) {
  if (watch.changed) return SweepStop::kKeyringChanged;
  if (report.outcome != ReencryptOutcome::kStopped) return SweepStop::kScannedAll;
  if (report.stop_cause == StopCause::kMaxRows || options.max_rows == uint64_t{0}) {
    return SweepStop::kMaxRows;
  }
  if (report.stop_cause == StopCause::kStopRequested) return SweepStop::kStopped;
  // The run time ended it unless --max-duration was the shorter budget.
  if (options.run_time && (!options.max_duration || *options.run_time < *options.max_duration)) {
    return SweepStop::kRunTime;
  }
  return SweepStop::kMaxDuration;
}

// Every registered column with this run's counts and the stale values left in it (recorded
// failures included), so that `remaining` also covers columns the bounds did not reach.
Status AddColumns(db::Store& store, const ReencryptReport& run, const SweepOptions& options,
                  SweepReport& report) {
  std::map<std::string, const ColumnReport*> by_name;
  for (const ColumnReport& column : run.columns) by_name[column.column.Name()] = &column;
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  db::StaleFilter filter{report.target_version, options.include_plaintext};
  for (const db::ColumnRef& column : columns) {
    SweepColumnReport& column_report = report.columns.emplace_back();
    column_report.column = column;
    if (auto found = by_name.find(column.Name()); found != by_name.end()) {
      column_report.migrated = found->second->migrated;
      column_report.conflicts = found->second->conflicts;
      column_report.failed = found->second->failed;
    }
    UDMG_ASSIGN_OR_RETURN(column_report.remaining, store.CountStale(column, filter));
    report.migrated += column_report.migrated;
    report.conflicts += column_report.conflicts;
    report.failed += column_report.failed;
    report.remaining += column_report.remaining;
  }
  return Status::Ok();
}

Status AddFailures(db::Store& store, const SweepOptions& options, SweepReport& report) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::FailureRecord> failures, store.ListFailures(report.job_id));
  for (db::FailureRecord& failure : failures) {
    if (report.failures.size() >= options.max_failure_details) break;
    report.failures.push_back(SweepFailure{std::move(failure.column), std::move(failure.key),
                                           failure.version, std::move(failure.error_class)});
  }
  return Status::Ok();
}

// True when no sweep is interrupted and no registered column holds a stale value: then the run
// writes nothing at all (a nightly cron on a migrated database leaves no job rows behind).
Result<bool> NothingToSweep(db::Store& store, uint32_t target, const SweepOptions& options) {
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> interrupted,
                        store.FindLatestJobNotDone(kSweepJobKind));
  if (interrupted) return false;
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  UDMG_RETURN_IF_ERROR(RequireColumnsExist(store, columns));
  db::StaleFilter filter{target, options.include_plaintext};
  for (const db::ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(uint64_t stale, store.CountStale(column, filter));
    if (stale > 0) return false;
  }
  return true;
}

}  // namespace

Result<SweepReport> Sweep(SecretsClient& client, const SweepOptions& options) {
  UDMG_RETURN_IF_ERROR(ValidateSweepOptions(options));
  UDMG_RETURN_IF_ERROR(client.RefreshKeyring());
  KeyringWatch watch{.keyring = client.shared_keyring()};
  const uint32_t target = watch.keyring->active_version();
  UDMG_ASSIGN_OR_RETURN(bool idle, NothingToSweep(client.store(), target, options));
  if (idle) {
    // Nothing counted as stale: progress complete for the metrics (remaining 0, ratio 1).
    if (options.hooks.on_progress) options.hooks.on_progress(ProgressSnapshot{});
    SweepReport report;
    report.target_version = target;
    UDMG_RETURN_IF_ERROR(AddColumns(client.store(), ReencryptReport{}, options, report));
    return report;
  }
  UDMG_ASSIGN_OR_RETURN(ReencryptReport run,
                        RunReencryption(PipelineOptions(client, options, watch)));
  if (watch.error) return *watch.error;
  if (run.outcome == ReencryptOutcome::kError) return ReportStatus(run).error();
  if (run.unaddressable > 0) return UnaddressableValues(run).error();

  SweepReport report;
  report.job_id = run.job_id;
  report.target_version = run.target_version;
  report.stop = StopOf(run, watch, options);
  UDMG_RETURN_IF_ERROR(AddColumns(client.store(), run, options, report));
  UDMG_RETURN_IF_ERROR(AddFailures(client.store(), options, report));
  return report;
}

Status SweepStatus(const SweepReport& report, const std::optional<Error>& why_stopped) {
  if (report.failed > 0) return UnmigratableValues(report.failed, report.job_id);
  if (report.stop == SweepStop::kRunTime || report.stop == SweepStop::kStopped) {
    return Status(ErrorCode::kIncomplete,
                  "incomplete: sweep job " + std::to_string(report.job_id) +
                      " stopped at a batch boundary" +
                      (why_stopped ? " (" + why_stopped->message + ")" : "") +
                      " with its checkpoint saved: the next sweep resumes it",
                  why_stopped ? why_stopped->setting : "");
  }
  return Status::Ok();
}

}  // namespace udmg::pipeline
