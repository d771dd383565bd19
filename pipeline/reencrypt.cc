#include "pipeline/reencrypt.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "pipeline/flow_graph.h"
#include "pipeline/job_state.h"

namespace udmg::pipeline {
namespace {

Status ValidateOptions(const ReencryptOptions& options) {
  if (!options.keyring) {
    return Status(ErrorCode::kInternal, "re-encryption started without a keyring (a bug)");
  }
  if (options.batch_size == 0) {
    return Status(ErrorCode::kUsage, "the batch size must be at least 1", "batch_size");
  }
  if (options.batches_in_flight == 0) {
    return Status(ErrorCode::kUsage, "the batches in flight must be at least 1",
                  "batches_in_flight");
  }
  if (options.max_passes == 0) {
    return Status(ErrorCode::kUsage, "the pass limit must be at least 1");
  }
  if (options.run_time < std::chrono::steady_clock::duration::zero()) {
    return Status(ErrorCode::kUsage, "the run time must not be negative", "run_time");
  }
  if (options.shared && options.lease.count() <= 0) {
    return Status(ErrorCode::kUsage, "the lease must be positive", "lease");
  }
  if (options.shared && options.rows_per_range == 0) {
    return Status(ErrorCode::kUsage, "the rows per range must be positive", "rows_per_range");
  }
  if (options.job_kind != kReencryptJobKind && options.job_kind != kSweepJobKind) {
    return Status(ErrorCode::kInternal, "unknown job kind '" + options.job_kind + "' (a bug)");
  }
  return Status::Ok();
}

// Everything one run needs besides the options: its two connections, the job and the budget.
struct Run {
  std::unique_ptr<db::Store> reader;  // fetch stage and counts
  std::unique_ptr<db::Store> writer;  // commit stage and job rows
  JobStart start;
  db::StaleFilter filter;
  std::map<std::string, RecordedFailures> recorded_failures;
  RunBudget budget;
  std::vector<db::ColumnRef> registered;  // the registry when the run started (with bindings)
  // The writer's OthersCommitMark before the start counts, and those counts by column name
  // (none for a shared job).
  std::optional<int64_t> others_mark;
  std::map<std::string, uint64_t> stale_at_start;
};

// A column's stale count without reading its values again: what was stale when the run started
// less what the run migrated. Exact when no other connection or process committed since the
// start counts (every change was this run's compare-and-swaps, each turning one stale value
// into a current one) and no trigger changed a row the job wrote; nullopt otherwise: count.
Result<std::optional<uint64_t>> StaleCountFromTheRun(Run& run, const db::ColumnRef& column,
                                                     uint64_t migrated,
                                                     const RecordedFailures& recorded) {
  auto at_start = run.stale_at_start.find(column.Name());
  if (!run.others_mark || at_start == run.stale_at_start.end() ||
      !recorded.altered_writes.empty() || migrated > at_start->second) {
    return std::optional<uint64_t>();
  }
  UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> mark, run.writer->OthersCommitMark());
  if (mark != run.others_mark) return std::optional<uint64_t>();
  return std::optional<uint64_t>(at_start->second - migrated);
}

bool IsRegistered(const Run& run, const db::ColumnRef& column) {
  return std::find(run.registered.begin(), run.registered.end(), column) != run.registered.end();
}

// A job's columns and ranges are stored without their row binding: it comes from the registry as
// the run starts (`columns bind` refuses to change it while a job is unfinished). Columns
// unregistered since the job was created are left out of the run (IsRegistered).
void TakeBinding(const Run& run, db::ColumnRef& column) {
  auto registered = std::find(run.registered.begin(), run.registered.end(), column);
  column.bound_since =
      registered != run.registered.end() ? registered->bound_since : std::nullopt;
}

// Main scan (unless the column was already scanned), then the final count, then catch-up passes
// from the start while migratable stale values remain. Stops early when the budget says so.
Result<ColumnReport> MigrateColumn(const ReencryptOptions& options, Run& run,
                                   const db::JobColumnProgress& progress, ValueCipher& counter) {
  ColumnReport report{.column = progress.column};
  RecordedFailures& recorded = run.recorded_failures[progress.column.Name()];
  ColumnPass pass{.column = progress.column,
                  .filter = run.filter,
                  .job_id = run.start.job.id,
                  .pass = 1,
                  .start_after = progress.checkpoint,
                  .checkpoint = progress.checkpoint,
                  .advance_checkpoint = true};
  bool scan = !progress.scanned;
  for (;;) {
    if (scan) {
      ColumnPassResult result = RunColumnPass(options, pass, options.keyring, *run.reader,
                                              *run.writer, recorded, run.budget);
      report.migrated += result.migrated;
      report.conflicts += result.conflicts;
      report.failed += result.failed;
      ++report.passes;
      if (run.budget.stop_reason) return report;
    }
    UDMG_ASSIGN_OR_RETURN(std::optional<uint64_t> known_stale,
                          StaleCountFromTheRun(run, progress.column, report.migrated, recorded));
    UDMG_ASSIGN_OR_RETURN(
        RemainingCount count,
        CountRemaining(*run.reader, counter, progress.column, run.filter, recorded, known_stale));
    report.remaining = count.remaining;
    report.unmigratable = count.unmigratable;
    report.unaddressable = count.unaddressable;
    if (count.remaining == 0) {
      report.complete = true;
      return report;
    }
    if (pass.pass >= options.max_passes) {
      run.budget.stop_reason = ReencryptOutcome::kPassesExhausted;
      return report;
    }
    // Values written meanwhile under an old version (or not reached by a bounded scan): rescan
    // from the start, keeping the stored checkpoint.
    run.budget.total += count.remaining;
    ++pass.pass;
    pass.start_after.reset();
    pass.advance_checkpoint = false;
    scan = true;
  }
}

std::string OwnerName(const ReencryptOptions& options) {
  if (!options.owner.empty()) return options.owner;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "localhost") + ":" + std::to_string(getpid());
}

// Waits a fraction of the lease (ranges leased by others end or expire meanwhile), returning
// early once the stop flag is set. At most 100 ms: the last ranges of a job end at different
// times, and every process waits for them before its final count, so a longer wait is added
// to the whole job's time (one claim query per wait is cheap by comparison).
void WaitForLeases(const ReencryptOptions& options) {
  auto wait = std::clamp(options.lease / 5, std::chrono::milliseconds(20),
                         std::chrono::milliseconds(100));
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (options.stop && options.stop->load(std::memory_order_acquire)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool IsLeaseLost(const RunBudget& budget) {
  return budget.stop_reason == ReencryptOutcome::kError && budget.error &&
         budget.error->code == ErrorCode::kConflict;
}

// A shared job: claims ranges (free, or whose lease expired) and migrates each to its end, until
// every range is done; meanwhile ranges leased by other processes are waited for. The counts go
// to `reports` by column name. Returns with budget.stop_reason set when the run must stop.
Status WorkRanges(const ReencryptOptions& options, Run& run,
                  std::map<std::string, ColumnReport>& reports) {
  std::string owner = OwnerName(options);
  int64_t lease_ms = options.lease.count();
  for (;;) {
    if (options.stop && options.stop->load(std::memory_order_acquire)) {
      run.budget.stop_reason = ReencryptOutcome::kStopped;
      run.budget.stop_cause = StopCause::kStopRequested;
      return Status::Ok();
    }
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRange> range,
                          run.writer->ClaimRange(run.start.job.id, owner, lease_ms));
    if (!range) {
      UDMG_ASSIGN_OR_RETURN(db::RangeCounts counts, run.writer->CountRanges(run.start.job.id));
      if (counts.open + counts.leased == 0) return Status::Ok();
      WaitForLeases(options);
      continue;
    }
    if (!IsRegistered(run, range->column)) {  // unregistered since: never written again
      UDMG_RETURN_IF_ERROR(run.writer->RenewRange(*range, owner, range->checkpoint, lease_ms, true));
      continue;
    }
    TakeBinding(run, range->column);
    db::Store& writer = *run.writer;
    ColumnPass pass{.column = range->column,
                    .filter = run.filter,
                    .job_id = run.start.job.id,
                    .pass = 1,
                    .start_after = range->checkpoint ? range->checkpoint : range->lower,
                    .checkpoint = range->checkpoint,
                    .advance_checkpoint = true,
                    .end_at = range->upper,
                    .save_range = [&](const std::optional<db::RowKey>& checkpoint, bool done) {
                      return writer.RenewRange(*range, owner, checkpoint, lease_ms, done);
                    }};
    ColumnPassResult result =
        RunColumnPass(options, pass, options.keyring, *run.reader, writer,
                      run.recorded_failures[range->column.Name()], run.budget);
    ColumnReport& report = reports[range->column.Name()];
    report.column = range->column;
    report.migrated += result.migrated;
    report.conflicts += result.conflicts;
    report.failed += result.failed;
    if (IsLeaseLost(run.budget)) {  // another process took the range over: claim another
      run.budget.stop_reason.reset();
      run.budget.error.reset();
      continue;
    }
    if (run.budget.stop_reason) return Status::Ok();
  }
}

// Every range of a shared job is done: the final count of each column (with catch-up passes,
// as a single process does) decides whether the job is done.
Status FinishSharedJob(const ReencryptOptions& options, Run& run, ValueCipher& counter,
                       std::map<std::string, ColumnReport>& reports, ReencryptReport& report) {
  // Failures recorded by the other processes are known now.
  UDMG_ASSIGN_OR_RETURN(run.recorded_failures, RecordedFailureKeys(*run.writer, run.start.job.id));
  for (db::JobColumnProgress progress : run.start.job.columns) {
    progress.scanned = true;  // the ranges were the main scan
    progress.checkpoint.reset();
    UDMG_ASSIGN_OR_RETURN(ColumnReport column, MigrateColumn(options, run, progress, counter));
    ++column.passes;  // the ranges were its main scan
    const ColumnReport& ranges = reports[progress.column.Name()];
    column.migrated += ranges.migrated;
    column.conflicts += ranges.conflicts;
    column.failed += ranges.failed;
    report.columns.push_back(std::move(column));
    if (run.budget.stop_reason) break;
  }
  return Status::Ok();
}

db::JobState FinalJobState(const ReencryptReport& report) {
  switch (report.outcome) {
    case ReencryptOutcome::kDone:
      return report.unmigratable == 0 && report.unaddressable == 0 ? db::JobState::kDone
                                                                   : db::JobState::kFailed;
    case ReencryptOutcome::kStopped:
    case ReencryptOutcome::kMaxFailures:
    case ReencryptOutcome::kPassesExhausted:
    case ReencryptOutcome::kError:
      return db::JobState::kStopped;
  }
  return db::JobState::kStopped;
}

void AddUp(ReencryptReport& report) {
  for (const ColumnReport& column : report.columns) {
    report.migrated += column.migrated;
    report.conflicts += column.conflicts;
    report.failed += column.failed;
    report.remaining += column.remaining;
    report.unmigratable += column.unmigratable;
    report.unaddressable += column.unaddressable;
  }
}

// A run that stopped before its final counts: what is really left in every column of the job
// (a column not reached yet gets a line of its own), so that the summary, the metrics and the
// exit message never say "remaining 0" while values are stale. Best effort after a failure:
// a count that fails leaves the figures as they were.
void CountWhatIsLeft(Run& run, ValueCipher& counter, ReencryptReport& report) {
  std::vector<ColumnReport> columns;
  for (const db::JobColumnProgress& progress : run.start.job.columns) {
    auto reached = std::find_if(report.columns.begin(), report.columns.end(),
                                [&](const ColumnReport& c) { return c.column == progress.column; });
    ColumnReport column =
        reached != report.columns.end() ? *reached : ColumnReport{.column = progress.column};
    Result<RemainingCount> count =
        CountRemaining(*run.reader, counter, progress.column, run.filter,
                       run.recorded_failures[progress.column.Name()]);
    if (!count.ok()) return;
    column.remaining = count->remaining;
    column.unmigratable = count->unmigratable;
    column.unaddressable = count->unaddressable;
    columns.push_back(std::move(column));
  }
  report.columns = std::move(columns);
}

// Before the first batch: the total just counted, so progress lines, live `status` and the
// metrics show it from the start and need not count the stale rows themselves.
ProgressSnapshot StartSnapshot(const db::JobRecord& job, const RunBudget& budget) {
  ProgressSnapshot snapshot;
  snapshot.job_id = job.id;
  snapshot.total = budget.total;
  if (!job.columns.empty()) snapshot.column = job.columns.front().column.Name();
  return snapshot;
}

// For a run that did not finish, the total is what it did plus what is really left, so that
// total - done (the metrics' rows remaining) is the true remaining count.
ProgressSnapshot FinalSnapshot(const ReencryptReport& report, const RunBudget& budget) {
  ProgressSnapshot snapshot;
  snapshot.job_id = report.job_id;
  snapshot.total = budget.total;
  if (report.outcome != ReencryptOutcome::kDone) {
    snapshot.total = budget.migrated + budget.conflicts + budget.failures + report.remaining;
  }
  snapshot.migrated = budget.migrated;
  snapshot.conflicts = budget.conflicts;
  snapshot.failed = budget.failures;
  snapshot.done = budget.migrated + budget.conflicts + budget.failures;
  snapshot.batches = budget.batches;
  snapshot.elapsed = report.elapsed;
  return snapshot;
}

// Before a job starts: a table whose rows the role may not see would be reported migrated while
// its hidden rows stay on the old version (and prune-keys would then retire it).
Status RequireJobColumnsVisible(db::Store& store, const ReencryptOptions& options) {
  std::vector<db::ColumnRef> columns = options.columns;
  if (columns.empty()) {
    UDMG_ASSIGN_OR_RETURN(columns, store.ListColumns());
  }
  return db::RequireEveryRowVisible(store, columns, "no job was started");
}

// At the end of a job that saw nothing left: the same check, in case row-level security was
// switched on while it ran. The job is then failed (a new one scans every row), never done.
db::JobState RefuseDoneOverHiddenRows(Run& run, ReencryptReport& report) {
  std::vector<db::ColumnRef> columns;
  for (const db::JobColumnProgress& progress : run.start.job.columns) {
    columns.push_back(progress.column);
  }
  Status visible = db::RequireEveryRowVisible(
      *run.reader, columns,
      "the job is marked failed, not done: fix the role and run the command again (a new job "
      "scans every row)");
  if (visible.ok()) return db::JobState::kDone;
  report.outcome = ReencryptOutcome::kError;
  report.error = visible.error();
  return db::JobState::kFailed;
}

// Everything after the job row exists. An error returned from here leaves the job "running";
// RunReencryption turns it to "stopped".
Result<ReencryptReport> RunStartedJob(const ReencryptOptions& options, Run& run,
                                      uint32_t target) {
  UDMG_ASSIGN_OR_RETURN(run.recorded_failures, RecordedFailureKeys(*run.writer, run.start.job.id));
  UDMG_ASSIGN_OR_RETURN(run.registered, run.reader->ListColumns());
  for (db::JobColumnProgress& progress : run.start.job.columns) TakeBinding(run, progress.column);
  UDMG_RETURN_IF_ERROR(run.writer->SetJobState(run.start.job.id, db::JobState::kRunning));
  if (options.hooks.on_job_running) options.hooks.on_job_running(run.start.job.id);
  run.filter = db::StaleFilter{target, options.include_plaintext};
  run.budget.clock = options.clock;
  if (!run.budget.clock) run.budget.clock = [] { return std::chrono::steady_clock::now(); };
  if (options.run_time > std::chrono::steady_clock::duration::zero()) {
    run.budget.deadline = run.budget.clock() + options.run_time;
  }

  ReencryptReport report;
  report.job_id = run.start.job.id;
  report.target_version = target;
  report.resumed = run.start.resumed;
  // The progress total: what is stale now in the columns left to scan.
  UDMG_ASSIGN_OR_RETURN(run.others_mark, run.writer->OthersCommitMark());
  for (const db::JobColumnProgress& progress : run.start.job.columns) {
    UDMG_ASSIGN_OR_RETURN(uint64_t stale, run.reader->CountStale(progress.column, run.filter));
    run.budget.total += stale;
    // A shared job's ranges migrate outside MigrateColumn's count (and other processes write):
    // its final counts read the values.
    if (!options.shared) run.stale_at_start[progress.column.Name()] = stale;
  }
  if (options.hooks.on_progress) {
    options.hooks.on_progress(StartSnapshot(run.start.job, run.budget));
  }
  ValueCipher counter(options.keyring);  // the final counts' decrypt check, on this thread
  if (options.shared) {
    std::map<std::string, ColumnReport> ranges;
    Status worked = WorkRanges(options, run, ranges);
    if (worked.ok() && !run.budget.stop_reason) {
      worked = FinishSharedJob(options, run, counter, ranges, report);
    } else if (worked.ok()) {
      for (auto& [name, column] : ranges) report.columns.push_back(std::move(column));
    }
    if (!worked.ok()) {
      run.budget.stop_reason = ReencryptOutcome::kError;
      run.budget.error = worked.error();
    }
  } else {
    for (const db::JobColumnProgress& progress : run.start.job.columns) {
      Result<ColumnReport> column = MigrateColumn(options, run, progress, counter);
      if (!column.ok()) {
        run.budget.stop_reason = ReencryptOutcome::kError;
        run.budget.error = column.error();
        break;
      }
      report.columns.push_back(std::move(*column));
      if (run.budget.stop_reason) break;
    }
  }

  report.outcome = run.budget.stop_reason.value_or(ReencryptOutcome::kDone);
  if (report.outcome == ReencryptOutcome::kStopped) report.stop_cause = run.budget.stop_cause;
  report.error = run.budget.error;
  report.batches = run.budget.batches;
  report.peak_batches_in_flight = run.budget.peak_in_flight;
  if (report.outcome != ReencryptOutcome::kDone) CountWhatIsLeft(run, counter, report);
  report.elapsed = std::chrono::steady_clock::now() - run.budget.started;
  AddUp(report);
  db::JobState final_state = FinalJobState(report);
  if (options.shared && final_state != db::JobState::kDone) {
    // A process that stopped must not undo another one that finished the shared job meanwhile.
    Result<std::optional<db::JobRecord>> now = run.writer->LoadJob(report.job_id);
    if (now.ok() && *now && (*now)->state == db::JobState::kDone) final_state = db::JobState::kDone;
  }
  if (final_state == db::JobState::kDone) final_state = RefuseDoneOverHiddenRows(run, report);
  Status saved = run.writer->SetJobState(report.job_id, final_state);
  if (!saved.ok() && report.outcome != ReencryptOutcome::kError) {
    report.outcome = ReencryptOutcome::kError;
    report.error = saved.error();
  }
  if (options.hooks.on_progress) options.hooks.on_progress(FinalSnapshot(report, run.budget));
  return report;
}

}  // namespace

std::string_view ReencryptOutcomeName(ReencryptOutcome outcome) {
  switch (outcome) {
    case ReencryptOutcome::kDone: return "done";
    case ReencryptOutcome::kStopped: return "stopped";
    case ReencryptOutcome::kMaxFailures: return "max_failures";
    case ReencryptOutcome::kPassesExhausted: return "passes_exhausted";
    case ReencryptOutcome::kError: return "error";
  }
  return "error";
}

bool IsResumableJob(const db::JobRecord& job) {
  return job.state == db::JobState::kRunning || job.state == db::JobState::kStopped;
}

Result<std::string> MissingReason(db::Store& store, const db::ColumnRef& column) {
  Status exists = store.CheckColumnStillExists(column);
  if (!exists.ok() && exists.code() == ErrorCode::kNotFound) return exists.message();
  UDMG_RETURN_IF_ERROR(exists);
  return std::string();
}

Result<ColumnValues> CountColumnValues(db::Store& store, const db::ColumnRef& column) {
  UDMG_ASSIGN_OR_RETURN(std::string missing, MissingReason(store, column));
  if (!missing.empty()) return ColumnValues{std::nullopt, std::move(missing)};
  UDMG_ASSIGN_OR_RETURN(db::ValueCounts counts, store.CountValues(column));
  return ColumnValues{std::move(counts), ""};
}

Result<ReencryptReport> RunReencryption(const ReencryptOptions& options) {
  UDMG_RETURN_IF_ERROR(ValidateOptions(options));
  StoreFactory open = options.open_store ? options.open_store
                                          : StoreFactory([](std::string_view url) {
                                              return db::OpenStore(url);
                                            });
  Run run;
  UDMG_ASSIGN_OR_RETURN(run.reader, open(options.database_url));
  UDMG_ASSIGN_OR_RETURN(run.writer, open(options.database_url));
  run.writer->SetAuditSigner(options.audit_signer);
  uint32_t target = options.keyring->active_version();
  UDMG_RETURN_IF_ERROR(RequireJobColumnsVisible(*run.reader, options));
  if (options.shared) {
    UDMG_ASSIGN_OR_RETURN(run.start, JoinSharedJob(*run.writer, options, target));
  } else {
    UDMG_ASSIGN_OR_RETURN(run.start, StartOrResumeJob(*run.writer, options, target));
  }
  Result<ReencryptReport> report = RunStartedJob(options, run, target);
  if (!report.ok()) {
    // A failed command never leaves its job "running" (that blocks prune-keys, restores and
    // bindings): "stopped" is resumed by the next run. Best effort: the database may be gone.
    (void)run.writer->SetJobState(run.start.job.id, db::JobState::kStopped);
  }
  return report;
}

// Values in rows whose key is NULL: no scan reaches them, so the job can never migrate them.
Status UnaddressableValues(const ReencryptReport& report) {
  std::string where;
  for (const ColumnReport& column : report.columns) {
    if (column.unaddressable == 0) continue;
    where += (where.empty() ? "" : ", ") + column.column.Name() + " (" +
             std::to_string(column.unaddressable) + " where " + column.column.key_column +
             " IS NULL)";
  }
  return Status(ErrorCode::kCorruptValue,
                std::to_string(report.unaddressable) +
                    " values sit in rows whose key is NULL and cannot be migrated: " + where +
                    ": give those rows a key or clear the values, then run the job again (job " +
                    std::to_string(report.job_id) + ")");
}

Status UnmigratableValues(uint64_t count, int64_t job_id) {
  return Status(ErrorCode::kCorruptValue,
                std::to_string(count) + " values could not be migrated and were left as they are " +
                    "(job " + std::to_string(job_id) +
                    ", listed in udmg_reencrypt_failures with their class): restore values that "
                    "do not decrypt from a backup or delete them, fix what made the database "
                    "refuse or change a write (write_refused, write_altered: a trigger, a "
                    "constraint), then run the job again");
}

Status ReportStatus(const ReencryptReport& report) { return ReportStatus(report, std::nullopt); }

Status ReportStatus(const ReencryptReport& report, const std::optional<Error>& why_stopped) {
  std::string job = "job " + std::to_string(report.job_id);
  switch (report.outcome) {
    case ReencryptOutcome::kDone:
      if (report.unaddressable != 0) return UnaddressableValues(report);
      if (report.unmigratable == 0) return Status::Ok();
      return UnmigratableValues(report.unmigratable, report.job_id);
    case ReencryptOutcome::kMaxFailures:
      return Status(ErrorCode::kCorruptValue,
                    "stopped: more values than the failure limit allows do not decrypt (" + job +
                        ", listed in udmg_reencrypt_failures): fix them or raise "
                        "the failure limit, then run the same command again to resume",
                    "max_failures");
    case ReencryptOutcome::kStopped:
      return Status(ErrorCode::kIncomplete,
                    "incomplete: " + job + " stopped at a batch boundary" +
                        (why_stopped ? " (" + why_stopped->message + ")" : "") +
                        " with its checkpoint saved: run the same command again to resume",
                    why_stopped ? why_stopped->setting : "");
    case ReencryptOutcome::kPassesExhausted:
      return Status(ErrorCode::kIncomplete,
                    "incomplete: " + std::to_string(report.remaining) +
                        " values are still under an old version after every pass (" + job +
                        "; a process is writing with an old keyring: restart it with the "
                        "current keys), then run the same command again");
    case ReencryptOutcome::kError:
      break;
  }
  Error error = report.error.value_or(
      Error{ErrorCode::kInternal, "the job failed without saying why (a bug)"});
  error.message = job + " stopped with its checkpoint saved: " + error.message;
  return error;
}

}  // namespace udmg::pipeline
