// SqliteStore: re-encryption jobs, their per-column checkpoints and the rows that failed.
// Row keys are stored as (type, text) pairs; see internal::RowKeyTypeName.
#include "db/sqlite/sqlite_jobs.h"

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

Status NoSuchJob(int64_t job_id) {
  return Status(ErrorCode::kNotFound,
                "job " + std::to_string(job_id) + " does not exist; list the jobs to find its id");
}

}  // namespace

Result<int64_t> InsertJobRows(Connection& connection, std::string_view kind,
                              uint32_t target_version, const std::vector<ColumnRef>& columns,
                              std::string_view what) {
  UDMG_RETURN_IF_ERROR(
      connection.Execute("INSERT INTO udmg_jobs (kind, state, target_version, "
                         "created_at, updated_at) "
                         "VALUES (?1, 'running', ?2, ?3, ?3)",
                         what, kind, target_version, internal::UnixNow()));
  int64_t job_id = connection.LastInsertRowid();
  UDMG_ASSIGN_OR_RETURN(Statement insert,
                        connection.Prepare("INSERT INTO udmg_job_columns (job_id, position, "
                                           "table_name, column_name, key_column) "
                                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                                           what));
  for (size_t i = 0; i < columns.size(); ++i) {
    insert.BindAll(job_id, i, columns[i].table, columns[i].column, columns[i].key_column);
    UDMG_RETURN_IF_ERROR(insert.Run());
  }
  return job_id;
}

Result<int64_t> SqliteStore::CreateJob(std::string_view kind, uint32_t target_version,
                                       const std::vector<ColumnRef>& columns) {
  for (const ColumnRef& column : columns) {
    UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  }
  constexpr std::string_view kWhat = "creating a job";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  UDMG_ASSIGN_OR_RETURN(int64_t job_id,
                        InsertJobRows(*connection_, kind, target_version, columns, kWhat));
  UDMG_RETURN_IF_ERROR(AppendJobStateLocked(
      JobRecord{job_id, std::string(kind), JobState::kRunning, target_version}, std::nullopt));
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return job_id;
}

Result<std::optional<JobRecord>> SqliteStore::LoadJobFoundBy(std::string_view find_sql,
                                                             std::string_view what,
                                                             std::string_view kind) {
  UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> job_id, connection_->QueryInt(find_sql, what, kind));
  if (!job_id) return std::optional<JobRecord>();
  return LoadJob(*job_id);
}

Result<std::optional<JobRecord>> SqliteStore::FindLatestJobNotDone(std::string_view kind) {
  return LoadJobFoundBy(
      "SELECT id FROM udmg_jobs WHERE kind = ?1 AND state <> 'done' "
      "ORDER BY id DESC LIMIT 1",
      "looking for an unfinished job", kind);
}

Result<std::optional<JobRecord>> SqliteStore::FindLatestFinishedJob(std::string_view kind) {
  return LoadJobFoundBy(
      "SELECT id FROM udmg_jobs WHERE kind = ?1 AND "
      "state IN ('done', 'failed') ORDER BY id DESC LIMIT 1",
      "looking for the last finished job", kind);
}

Result<std::optional<JobRecord>> SqliteStore::LoadJob(int64_t job_id) {
  constexpr std::string_view kWhat = "reading a job";
  UDMG_ASSIGN_OR_RETURN(Transaction snapshot,
                        Transaction::Begin(*connection_, Transaction::Kind::kRead, kWhat));
  JobRecord job;
  {
    UDMG_ASSIGN_OR_RETURN(Statement read,
                          connection_->Prepare("SELECT kind, state, target_version, created_at, "
                                               "updated_at FROM udmg_jobs WHERE id = ?1",
                                               kWhat));
    read.BindInt(1, job_id);
    UDMG_ASSIGN_OR_RETURN(bool found, read.Step());
    if (!found) return std::optional<JobRecord>();
    job.id = job_id;
    job.kind = read.Text(0);
    UDMG_ASSIGN_OR_RETURN(job.state, ParseJobState(read.Text(1)));
    job.target_version = static_cast<uint32_t>(read.Int(2));
    job.created_at = read.Int(3);
    job.updated_at = read.Int(4);
  }
  {
    UDMG_ASSIGN_OR_RETURN(Statement read,
                          connection_->Prepare("SELECT table_name, column_name, key_column, "
                                               "checkpoint_type, checkpoint_key, migrated, "
                                               "conflicts, failed, scanned FROM udmg_job_columns "
                                               "WHERE job_id = ?1 ORDER BY position",
                                               kWhat));
    read.BindInt(1, job_id);
    UDMG_RETURN_IF_ERROR(read.ForEachRow([&](const Statement& row) -> Status {
      JobColumnProgress& progress = job.columns.emplace_back();
      progress.column = ColumnRef{row.Text(0), row.Text(1), row.Text(2)};
      if (!row.IsNull(3)) {
        UDMG_ASSIGN_OR_RETURN(progress.checkpoint,
                              internal::RowKeyFromStored(row.Text(3), row.Text(4)));
      }
      progress.migrated = static_cast<uint64_t>(row.Int(5));
      progress.conflicts = static_cast<uint64_t>(row.Int(6));
      progress.failed = static_cast<uint64_t>(row.Int(7));
      progress.scanned = row.Int(8) != 0;
      return Status::Ok();
    }));
  }
  UDMG_RETURN_IF_ERROR(snapshot.Commit());
  return std::optional<JobRecord>(std::move(job));
}

Status SqliteStore::SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                                   const std::optional<RowKey>& checkpoint, uint64_t migrated,
                                   uint64_t conflicts, uint64_t failed, bool scanned) {
  constexpr std::string_view kWhat = "saving a checkpoint";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    // No checkpoint keeps the one saved before; "scanned" never goes back to false.
    UDMG_ASSIGN_OR_RETURN(
        Statement save,
        connection_->Prepare("UPDATE udmg_job_columns SET "
                             "checkpoint_type = coalesce(?4, checkpoint_type), "
                             "checkpoint_key = coalesce(?5, checkpoint_key), "
                             "migrated = migrated + ?6, conflicts = conflicts + ?7, "
                             "failed = failed + ?8, scanned = max(scanned, ?9) "
                             "WHERE job_id = ?1 AND table_name = ?2 AND column_name = ?3",
                             kWhat));
    save.BindAll(job_id, column.table, column.column);
    if (checkpoint) {
      save.BindText(4, internal::RowKeyTypeName(*checkpoint));
      save.BindText(5, RowKeyText(*checkpoint));
    }
    save.BindInt(6, static_cast<int64_t>(migrated));
    save.BindInt(7, static_cast<int64_t>(conflicts));
    save.BindInt(8, static_cast<int64_t>(failed));
    save.BindInt(9, scanned ? 1 : 0);
    UDMG_RETURN_IF_ERROR(save.Run());
    if (connection_->Changes() == 0) {
      return Status(ErrorCode::kNotFound, "job " + std::to_string(job_id) +
                                              " does not exist or has no column '" + column.Name() +
                                              "'; resume the job with the columns it started with");
    }
    return connection_->Execute("UPDATE udmg_jobs SET updated_at = ?2 WHERE id = ?1", kWhat, job_id,
                                internal::UnixNow());
  });
}

Status SqliteStore::SetJobState(int64_t job_id, JobState state) {
  constexpr std::string_view kWhat = "changing a job's state";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    UDMG_ASSIGN_OR_RETURN(
        Statement found,
        connection_->Prepare("SELECT kind, state, target_version FROM udmg_jobs WHERE id = ?1",
                             kWhat));
    found.BindAll(job_id);
    UDMG_ASSIGN_OR_RETURN(bool exists, found.Step());
    if (!exists) return NoSuchJob(job_id);
    UDMG_ASSIGN_OR_RETURN(JobState from, ParseJobState(found.Text(1)));
    const JobRecord job{job_id, found.Text(0), state, static_cast<uint32_t>(found.Int(2))};
    UDMG_RETURN_IF_ERROR(
        connection_->Execute("UPDATE udmg_jobs SET state = ?2, updated_at = ?3 WHERE id = ?1",
                             kWhat, job_id, JobStateName(state), internal::UnixNow()));
    return AppendJobStateLocked(job, from);
  });
}

Status SqliteStore::RecordFailure(const FailureRecord& failure) {
  // A resumed job meeting the same row again updates its record instead of repeating it.
  return ExecuteInWriteTransaction(
      *connection_,
      "INSERT INTO udmg_reencrypt_failures (job_id, table_name, column_name, key_column, "
      "key_type, row_key, version, error_class, recorded_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
      "ON CONFLICT (job_id, table_name, column_name, key_type, row_key) "
      "DO UPDATE SET version = excluded.version, error_class = excluded.error_class, "
      "recorded_at = excluded.recorded_at",
      "recording a failed row", failure.job_id, failure.column.table, failure.column.column,
      failure.column.key_column, internal::RowKeyTypeName(failure.key), RowKeyText(failure.key),
      failure.version, failure.error_class,
      failure.recorded_at != 0 ? failure.recorded_at : internal::UnixNow());
}

Result<std::vector<FailureRecord>> SqliteStore::ListFailures(int64_t job_id) {
  return connection_->ReadRows<FailureRecord>(
      "SELECT table_name, column_name, key_column, key_type, row_key, version, error_class, "
      "recorded_at FROM udmg_reencrypt_failures WHERE job_id = ?1 ORDER BY id",
      "listing failed rows",
      [&](const Statement& row) -> Result<FailureRecord> {
        FailureRecord failure;
        failure.job_id = job_id;
        failure.column = ColumnRef{row.Text(0), row.Text(1), row.Text(2)};
        UDMG_ASSIGN_OR_RETURN(failure.key, internal::RowKeyFromStored(row.Text(3), row.Text(4)));
        failure.version = static_cast<uint32_t>(row.Int(5));
        failure.error_class = row.Text(6);
        failure.recorded_at = row.Int(7);
        return failure;
      },
      job_id);
}

}  // namespace udmg::db::sqlite
