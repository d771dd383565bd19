#include "pipeline/job_state.h"

#include <utility>

#include "engine/envelope.h"
#include "pipeline/flow_batch.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {
namespace {

// The registered form of each requested column (the key column comes from the registry).
Result<std::vector<db::ColumnRef>> ResolveColumns(db::Store& store,
                                                  const std::vector<db::ColumnRef>& requested) {
  if (requested.empty()) return store.ListColumns();
  std::vector<db::ColumnRef> columns;
  for (const db::ColumnRef& column : requested) {
    UDMG_ASSIGN_OR_RETURN(db::ColumnRef registered, store.FindColumn(column.table, column.column));
    columns.push_back(std::move(registered));
  }
  return columns;
}

Result<JobStart> CreateJob(db::Store& store, std::string_view kind, uint32_t target_version,
                           const std::vector<db::ColumnRef>& columns) {
  UDMG_ASSIGN_OR_RETURN(int64_t job_id, store.CreateJob(kind, target_version, columns));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.LoadJob(job_id));
  if (!job) {
    return Error{ErrorCode::kDatabase, "job " + std::to_string(job_id) +
                                           " vanished right after it was created: check that no "
                                           "other tool deletes udmg_jobs rows"};
  }
  return JobStart{std::move(*job), false};
}

std::vector<db::ColumnRef> ColumnsOf(const db::JobRecord& job) {
  std::vector<db::ColumnRef> columns;
  for (const db::JobColumnProgress& progress : job.columns) columns.push_back(progress.column);
  return columns;
}

}  // namespace

bool IsResumable(const db::JobRecord& job) {
  return job.state == kJobRunning || job.state == kJobStopped;
}

Result<JobStart> StartOrResumeJob(db::Store& store, const ReencryptOptions& options,
                                  uint32_t target_version) {
  std::optional<db::JobRecord> interrupted;
  if (options.resume != ResumeMode::kStartNew) {
    UDMG_ASSIGN_OR_RETURN(interrupted, store.FindUnfinishedJob(options.job_kind));
    if (interrupted && !IsResumable(*interrupted)) interrupted.reset();
  }
  if (!interrupted && options.resume == ResumeMode::kResumeOnly) {
    return Error{ErrorCode::kNotFound, "no interrupted " + options.job_kind +
                                           " job to resume: run it without --resume to start one"};
  }
  if (interrupted && interrupted->target_version == target_version) {
    return JobStart{std::move(*interrupted), true};
  }
  if (interrupted) {
    // Superseded by a rotation: its columns still need the new target.
    UDMG_RETURN_IF_ERROR(store.SetJobState(interrupted->id, kJobFailed));
    return CreateJob(store, options.job_kind, target_version, ColumnsOf(*interrupted));
  }
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, ResolveColumns(store, options.columns));
  return CreateJob(store, options.job_kind, target_version, columns);
}

Result<JobStart> JoinSharedJob(db::Store& store, const ReencryptOptions& options,
                               uint32_t target_version) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, ResolveColumns(store, options.columns));
  db::StaleFilter filter{target_version, options.include_plaintext};
  UDMG_ASSIGN_OR_RETURN(int64_t job_id,
                        store.FindOrCreateSharedJob(options.job_kind, target_version, columns,
                                                    filter, options.rows_per_range));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.LoadJob(job_id));
  if (!job) {
    return Error{ErrorCode::kDatabase, "shared job " + std::to_string(job_id) +
                                           " vanished right after it was joined: check that no "
                                           "other tool deletes udmg_jobs rows"};
  }
  bool joined_earlier = job->created_at < job->updated_at;  // an approximation, for the report
  return JobStart{std::move(*job), joined_earlier};
}

Result<std::map<std::string, std::set<db::RowKey>>> RecordedFailureKeys(db::Store& store,
                                                                        int64_t job_id) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::FailureRecord> failures, store.ListFailures(job_id));
  std::map<std::string, std::set<db::RowKey>> keys;
  for (db::FailureRecord& failure : failures) {
    keys[failure.column.Name()].insert(std::move(failure.key));
  }
  return keys;
}

Result<RemainingCount> CountRemaining(db::Store& store, ValueCipher& cipher,
                                      const db::ColumnRef& column, const db::StaleFilter& filter,
                                      const std::set<db::RowKey>& recorded_failures) {
  UDMG_ASSIGN_OR_RETURN(uint64_t stale, store.CountStale(column, filter));
  RemainingCount count;
  for (const db::RowKey& key : recorded_failures) {
    if (count.unmigratable == stale) break;
    UDMG_ASSIGN_OR_RETURN(std::optional<db::StoredValue> row, store.ReadValue(column, key));
    if (!row || !row->value || !IsStale(*row->value, column, filter)) continue;
    const std::string key_text = db::RowKeyText(key);
    const ValueLocation location = LocationOf(column, key_text);
    if (LooksEncrypted(*row->value) && !cipher.Decrypt(*row->value, &location).ok()) {
      ++count.unmigratable;
    }
  }
  count.remaining = stale - count.unmigratable;
  return count;
}

}  // namespace udmg::pipeline
