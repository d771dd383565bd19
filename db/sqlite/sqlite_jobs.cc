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
  int64_t job_id = 0;
  {
    UDMG_ASSIGN_OR_RETURN(Statement insert,
                          connection.Prepare("INSERT INTO udmg_jobs (kind, state, "
                                             "target_version, created_at, updated_at) "
                                             "VALUES (?1, 'running', ?2, ?3, ?3)",
                                             what));
    insert.BindText(1, kind);
    insert.BindInt(2, target_version);
    insert.BindInt(3, internal::UnixNow());
    UDMG_RETURN_IF_ERROR(insert.Run());
    job_id = connection.LastInsertRowid();
  }
  UDMG_ASSIGN_OR_RETURN(Statement insert,
                        connection.Prepare("INSERT INTO udmg_job_columns (job_id, position, "
                                           "table_name, column_name, key_column) "
                                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                                           what));
  for (size_t i = 0; i < columns.size(); ++i) {
    insert.BindInt(1, job_id);
    insert.BindInt(2, static_cast<int64_t>(i));
    insert.BindText(3, columns[i].table);
    insert.BindText(4, columns[i].column);
    insert.BindText(5, columns[i].key_column);
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
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return job_id;
}

Result<std::optional<JobRecord>> SqliteStore::FindLatestJobNotDone(std::string_view kind) {
  int64_t job_id = 0;
  {
    UDMG_ASSIGN_OR_RETURN(Statement find,
                          connection_->Prepare("SELECT id FROM udmg_jobs WHERE kind = ?1 AND "
                                               "state <> 'done' ORDER BY id DESC LIMIT 1",
                                               "looking for an unfinished job"));
    find.BindText(1, kind);
    UDMG_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) return std::optional<JobRecord>();
    job_id = find.Int(0);
  }
  return LoadJob(job_id);
}

Result<std::optional<JobRecord>> SqliteStore::FindLatestFinishedJob(std::string_view kind) {
  int64_t job_id = 0;
  {
    UDMG_ASSIGN_OR_RETURN(Statement find,
                          connection_->Prepare("SELECT id FROM udmg_jobs WHERE kind = ?1 AND "
                                               "state IN ('done', 'failed') "
                                               "ORDER BY id DESC LIMIT 1",
                                               "looking for the last finished job"));
    find.BindText(1, kind);
    UDMG_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) return std::optional<JobRecord>();
    job_id = find.Int(0);
  }
  return LoadJob(job_id);
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
    for (;;) {
      UDMG_ASSIGN_OR_RETURN(bool has_row, read.Step());
      if (!has_row) break;
      JobColumnProgress& progress = job.columns.emplace_back();
      progress.column = ColumnRef{read.Text(0), read.Text(1), read.Text(2)};
      if (!read.IsNull(3)) {
        UDMG_ASSIGN_OR_RETURN(progress.checkpoint,
                              internal::RowKeyFromStored(read.Text(3), read.Text(4)));
      }
      progress.migrated = static_cast<uint64_t>(read.Int(5));
      progress.conflicts = static_cast<uint64_t>(read.Int(6));
      progress.failed = static_cast<uint64_t>(read.Int(7));
      progress.scanned = read.Int(8) != 0;
    }
  }
  UDMG_RETURN_IF_ERROR(snapshot.Commit());
  return std::optional<JobRecord>(std::move(job));
}

Status SqliteStore::SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                                   const std::optional<RowKey>& checkpoint, uint64_t migrated,
                                   uint64_t conflicts, uint64_t failed, bool scanned) {
  constexpr std::string_view kWhat = "saving a checkpoint";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
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
    save.BindInt(1, job_id);
    save.BindText(2, column.table);
    save.BindText(3, column.column);
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
  }
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement touch,
        connection_->Prepare("UPDATE udmg_jobs SET updated_at = ?2 WHERE id = ?1", kWhat));
    touch.BindInt(1, job_id);
    touch.BindInt(2, internal::UnixNow());
    UDMG_RETURN_IF_ERROR(touch.Run());
  }
  return transaction.Commit();
}

Status SqliteStore::SetJobState(int64_t job_id, JobState state) {
  constexpr std::string_view kWhat = "changing a job's state";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
    UDMG_ASSIGN_OR_RETURN(Statement update,
                          connection_->Prepare("UPDATE udmg_jobs SET state = ?2, updated_at = ?3 "
                                               "WHERE id = ?1",
                                               kWhat));
    update.BindInt(1, job_id);
    update.BindText(2, JobStateName(state));
    update.BindInt(3, internal::UnixNow());
    UDMG_RETURN_IF_ERROR(update.Run());
    if (connection_->Changes() == 0) return NoSuchJob(job_id);
  }
  return transaction.Commit();
}

Status SqliteStore::RecordFailure(const FailureRecord& failure) {
  constexpr std::string_view kWhat = "recording a failed row";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
    // A resumed job meeting the same row again updates its record instead of repeating it.
    UDMG_ASSIGN_OR_RETURN(
        Statement record,
        connection_->Prepare("INSERT INTO udmg_reencrypt_failures (job_id, table_name, "
                             "column_name, key_column, key_type, row_key, version, error_class, "
                             "recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                             "ON CONFLICT (job_id, table_name, column_name, key_type, row_key) "
                             "DO UPDATE SET version = excluded.version, "
                             "error_class = excluded.error_class, "
                             "recorded_at = excluded.recorded_at",
                             kWhat));
    record.BindInt(1, failure.job_id);
    record.BindText(2, failure.column.table);
    record.BindText(3, failure.column.column);
    record.BindText(4, failure.column.key_column);
    record.BindText(5, internal::RowKeyTypeName(failure.key));
    record.BindText(6, RowKeyText(failure.key));
    record.BindInt(7, failure.version);
    record.BindText(8, failure.error_class);
    record.BindInt(9, failure.recorded_at != 0 ? failure.recorded_at : internal::UnixNow());
    UDMG_RETURN_IF_ERROR(record.Run());
  }
  return transaction.Commit();
}

Result<std::vector<FailureRecord>> SqliteStore::ListFailures(int64_t job_id) {
  UDMG_ASSIGN_OR_RETURN(Statement list,
                        connection_->Prepare("SELECT table_name, column_name, key_column, "
                                             "key_type, row_key, version, error_class, "
                                             "recorded_at FROM udmg_reencrypt_failures "
                                             "WHERE job_id = ?1 ORDER BY id",
                                             "listing failed rows"));
  list.BindInt(1, job_id);
  std::vector<FailureRecord> failures;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, list.Step());
    if (!has_row) break;
    FailureRecord& failure = failures.emplace_back();
    failure.job_id = job_id;
    failure.column = ColumnRef{list.Text(0), list.Text(1), list.Text(2)};
    UDMG_ASSIGN_OR_RETURN(failure.key, internal::RowKeyFromStored(list.Text(3), list.Text(4)));
    failure.version = static_cast<uint32_t>(list.Int(5));
    failure.error_class = list.Text(6);
    failure.recorded_at = list.Int(7);
  }
  return failures;
}

}  // namespace udmg::db::sqlite
