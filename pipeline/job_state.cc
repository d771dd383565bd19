#include "pipeline/job_state.h"

#include <algorithm>
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

bool IsRegistered(const std::vector<db::ColumnRef>& registered, const db::ColumnRef& column) {
  return std::find(registered.begin(), registered.end(), column) != registered.end();
}

// The columns of an interrupted job that are still registered: a column unregistered since
// (`columns remove`) is never written again; its values stay as they are.
std::vector<db::ColumnRef> RegisteredColumnsOf(const db::JobRecord& job,
                                               const std::vector<db::ColumnRef>& registered) {
  std::vector<db::ColumnRef> columns;
  for (const db::JobColumnProgress& progress : job.columns) {
    if (IsRegistered(registered, progress.column)) columns.push_back(progress.column);
  }
  return columns;
}

void DropUnregistered(db::JobRecord& job, const std::vector<db::ColumnRef>& registered) {
  std::erase_if(job.columns, [&](const db::JobColumnProgress& progress) {
    return !IsRegistered(registered, progress.column);
  });
}

std::vector<db::ColumnRef> ColumnsOf(const db::JobRecord& job) {
  std::vector<db::ColumnRef> columns;
  for (const db::JobColumnProgress& progress : job.columns) columns.push_back(progress.column);
  return columns;
}

}  // namespace

Status RequireColumnsExist(db::Store& store, const std::vector<db::ColumnRef>& columns) {
  for (const db::ColumnRef& column : columns) {
    UDMG_RETURN_IF_ERROR(store.CheckColumnStillExists(column));
  }
  return Status::Ok();
}

Result<JobStart> StartOrResumeJob(db::Store& store, const ReencryptOptions& options,
                                  uint32_t target_version) {
  std::optional<db::JobRecord> interrupted;
  if (options.resume != ResumeMode::kStartNew) {
    UDMG_ASSIGN_OR_RETURN(interrupted, store.FindLatestJobNotDone(options.job_kind));
    if (interrupted && !IsResumableJob(*interrupted)) interrupted.reset();
  }
  if (!interrupted && options.resume == ResumeMode::kResumeOnly) {
    return Error{ErrorCode::kNotFound,
                 "no interrupted " + options.job_kind +
                     " job to resume: run it without the resume-only mode to start one",
                 "resume"};
  }
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> registered, store.ListColumns());
  if (interrupted && interrupted->target_version == target_version) {
    DropUnregistered(*interrupted, registered);
    UDMG_RETURN_IF_ERROR(RequireColumnsExist(store, ColumnsOf(*interrupted)));
    return JobStart{std::move(*interrupted), true};
  }
  std::vector<db::ColumnRef> columns;
  if (interrupted) {
    // Superseded by a rotation: its columns still need the new target.
    columns = RegisteredColumnsOf(*interrupted, registered);
  } else {
    UDMG_ASSIGN_OR_RETURN(columns, ResolveColumns(store, options.columns));
  }
  UDMG_RETURN_IF_ERROR(RequireColumnsExist(store, columns));
  if (interrupted) UDMG_RETURN_IF_ERROR(store.SetJobState(interrupted->id, db::JobState::kFailed));
  return CreateJob(store, options.job_kind, target_version, columns);
}

Result<JobStart> JoinSharedJob(db::Store& store, const ReencryptOptions& options,
                               uint32_t target_version) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, ResolveColumns(store, options.columns));
  UDMG_RETURN_IF_ERROR(RequireColumnsExist(store, columns));
  db::StaleFilter filter{target_version, options.include_plaintext};
  UDMG_ASSIGN_OR_RETURN(int64_t job_id,
                        db::FindOrCreateSharedJob(store, options.job_kind, target_version, columns,
                                                  filter, options.rows_per_range));
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.LoadJob(job_id));
  if (!job) {
    return Error{ErrorCode::kDatabase, "shared job " + std::to_string(job_id) +
                                           " vanished right after it was joined: check that no "
                                           "other tool deletes udmg_jobs rows"};
  }
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> registered, store.ListColumns());
  DropUnregistered(*job, registered);
  bool joined_earlier = job->created_at < job->updated_at;  // an approximation, for the report
  return JobStart{std::move(*job), joined_earlier};
}

Result<std::map<std::string, RecordedFailures>> RecordedFailureKeys(db::Store& store,
                                                                    int64_t job_id) {
  UDMG_ASSIGN_OR_RETURN(std::vector<db::FailureRecord> failures, store.ListFailures(job_id));
  std::map<std::string, RecordedFailures> keys;
  for (db::FailureRecord& failure : failures) {
    RecordedFailures& column = keys[failure.column.Name()];
    if (IsWriteFailure(failure.error_class)) column.refused_writes.insert(failure.key);
    if (failure.error_class == kWriteAltered) column.altered_writes.insert(failure.key);
    column.keys.insert(std::move(failure.key));
  }
  return keys;
}

Result<RemainingCount> CountRemaining(db::Store& store, ValueCipher& cipher,
                                      const db::ColumnRef& column, const db::StaleFilter& filter,
                                      const RecordedFailures& recorded_failures,
                                      std::optional<uint64_t> known_stale) {
  uint64_t stale = 0;
  if (known_stale) {
    stale = *known_stale;
  } else {
    UDMG_ASSIGN_OR_RETURN(stale, store.CountStale(column, filter));
  }
  RemainingCount count;
  // Rows without a key are stale for ever: no scan reaches them, so they are reported apart.
  UDMG_ASSIGN_OR_RETURN(count.unaddressable, store.CountUnaddressable(column, &filter));
  stale -= std::min(stale, count.unaddressable);
  // A row a trigger changed after the job wrote it is unmigratable whatever it holds now (stale or
  // not): the job wrote it and cannot tell what it should hold.
  uint64_t altered_not_stale = 0;
  for (const db::RowKey& key : recorded_failures.keys) {
    const bool altered = recorded_failures.altered_writes.contains(key);
    if (count.unmigratable == stale && !altered) continue;
    UDMG_ASSIGN_OR_RETURN(std::optional<db::StoredValue> row, store.ReadValue(column, key));
    if (!row || !row->value || !IsStale(*row->value, column, filter)) {
      if (altered) ++altered_not_stale;
      continue;
    }
    const std::string key_text = db::RowKeyText(key);
    const ValueLocation location = LocationOf(column, key_text);
    if (recorded_failures.refused_writes.contains(key) ||
        (LooksEncrypted(*row->value) && !cipher.Decrypt(*row->value, &location).ok())) {
      ++count.unmigratable;
    }
  }
  count.remaining = stale - count.unmigratable;
  count.unmigratable += altered_not_stale;
  return count;
}

}  // namespace udmg::pipeline
