// PgStore: re-encryption jobs, their per-column checkpoints and the rows that failed.
// Row keys are stored as (type, text) pairs, as on SQLite; see internal::RowKeyTypeName.
#include "db/postgres/postgres_jobs.h"

#include "db/postgres/postgres_audit.h"
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

Status NoSuchJob(int64_t job_id) {
  return Status(ErrorCode::kNotFound,
                "job " + std::to_string(job_id) + " does not exist; list the jobs to find its id");
}

// "123,456" as stored in udmg_jobs.waiting_for.
std::vector<int64_t> ParsePids(const std::string& text) {
  std::vector<int64_t> pids;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    try {
      pids.push_back(std::stoll(text.substr(start, end - start)));
    } catch (const std::exception&) {
      // Not written by this tool: shown as no pid rather than failing the status.
    }
    start = end + 1;
  }
  return pids;
}

std::string PidsText(const std::vector<int64_t>& pids) {
  std::string text;
  for (int64_t pid : pids) text += (text.empty() ? "" : ",") + std::to_string(pid);
  return text;
}

Result<std::optional<JobRecord>> ReadJob(pqxx::transaction_base& transaction, int64_t job_id) {
  pqxx::result header = transaction.exec_params(
      "SELECT kind, state, target_version, created_at, updated_at, waiting_for, waiting_since "
      "FROM udmg_jobs WHERE id = $1",
      job_id);
  if (header.empty()) return std::optional<JobRecord>();
  JobRecord job;
  job.id = job_id;
  job.kind = header[0][0].as<std::string>();
  UDMG_ASSIGN_OR_RETURN(job.state, ParseJobState(header[0][1].as<std::string>()));
  job.target_version = header[0][2].as<uint32_t>();
  job.created_at = header[0][3].as<int64_t>();
  job.updated_at = header[0][4].as<int64_t>();
  if (!header[0][5].is_null() && !header[0][6].is_null()) {
    job.waiting = JobWait{ParsePids(header[0][5].as<std::string>()), header[0][6].as<int64_t>()};
  }
  for (const pqxx::row& row : transaction.exec_params(
           "SELECT table_name, column_name, key_column, checkpoint_type, checkpoint_key, "
           "migrated, conflicts, failed, scanned FROM udmg_job_columns WHERE job_id = $1 "
           "ORDER BY position",
           job_id)) {
    JobColumnProgress& progress = job.columns.emplace_back();
    progress.column =
        ColumnRef{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()};
    if (!row[3].is_null()) {
      UDMG_ASSIGN_OR_RETURN(progress.checkpoint,
                            internal::RowKeyFromStored(row[3].as<std::string>(),
                                                       row[4].as<std::string>()));
    }
    progress.migrated = row[5].as<uint64_t>();
    progress.conflicts = row[6].as<uint64_t>();
    progress.failed = row[7].as<uint64_t>();
    progress.scanned = row[8].as<bool>();
  }
  return std::optional<JobRecord>(std::move(job));
}

// In one snapshot: the job whose id `find_sql` selects for $1 = kind; nullopt when it selects none.
Result<std::optional<JobRecord>> LoadJobFoundBy(PgConnection& connection, std::string_view what,
                                                const std::string& find_sql,
                                                std::string_view kind) {
  return connection.ReadSnapshot<std::optional<JobRecord>>(
      what, [&](pqxx::transaction_base& snapshot) -> Result<std::optional<JobRecord>> {
        pqxx::result found = snapshot.exec_params(find_sql, std::string(kind));
        if (found.empty()) return std::optional<JobRecord>();
        return ReadJob(snapshot, found[0][0].as<int64_t>());
      });
}

}  // namespace

Result<int64_t> InsertJobRows(pqxx::transaction_base& transaction, const AuditSigner& signer,
                              const std::string& describe, std::string_view kind,
                              uint32_t target_version, const std::vector<ColumnRef>& columns) {
  const int64_t job_id = transaction
                             .exec_params1(
                                 "INSERT INTO udmg_jobs (kind, state, target_version, created_at, "
                                 "updated_at) VALUES ($1, 'running', $2, $3, $3) RETURNING id",
                                 std::string(kind), target_version, internal::UnixNow())[0]
                             .as<int64_t>();
  for (size_t i = 0; i < columns.size(); ++i) {
    transaction.exec_params(
        "INSERT INTO udmg_job_columns (job_id, position, table_name, column_name, key_column) "
        "VALUES ($1, $2, $3, $4, $5)",
        job_id, static_cast<int64_t>(i), columns[i].table, columns[i].column,
        columns[i].key_column);
  }
  JobRecord job{job_id, std::string(kind), JobState::kRunning, target_version};
  UDMG_RETURN_IF_ERROR(AppendJobStateEntry(transaction, signer, describe, job, std::nullopt));
  return job_id;
}

Result<int64_t> PgStore::CreateJob(std::string_view kind, uint32_t target_version,
                                   const std::vector<ColumnRef>& columns) {
  for (const ColumnRef& column : columns) {
    UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  }
  return connection_->Run<int64_t>(
      "creating a job", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Result<int64_t> {
        pqxx::work transaction(live);
        UDMG_ASSIGN_OR_RETURN(int64_t job_id, InsertJobRows(transaction, audit_signer(), Describe(),
                                                            kind, target_version, columns));
        transaction.commit();
        return job_id;
      });
}

Result<std::optional<JobRecord>> PgStore::FindLatestJobNotDone(std::string_view kind) {
  return LoadJobFoundBy(*connection_, "looking for an unfinished job",
                        "SELECT id FROM udmg_jobs WHERE kind = $1 AND state <> 'done' "
                        "ORDER BY id DESC LIMIT 1",
                        kind);
}

Result<std::optional<JobRecord>> PgStore::FindLatestFinishedJob(std::string_view kind) {
  return LoadJobFoundBy(*connection_, "looking for the last finished job",
                        "SELECT id FROM udmg_jobs WHERE kind = $1 AND state IN ('done', 'failed') "
                        "ORDER BY id DESC LIMIT 1",
                        kind);
}

Result<std::optional<JobRecord>> PgStore::LoadJob(int64_t job_id) {
  return connection_->ReadSnapshot<std::optional<JobRecord>>(
      "reading a job", [&](pqxx::transaction_base& snapshot) -> Result<std::optional<JobRecord>> {
        return ReadJob(snapshot, job_id);
      });
}

Status PgStore::SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                               const std::optional<RowKey>& checkpoint, uint64_t migrated,
                               uint64_t conflicts, uint64_t failed, bool scanned) {
  std::string type = checkpoint ? std::string(internal::RowKeyTypeName(*checkpoint)) : "";
  std::string key = checkpoint ? RowKeyText(*checkpoint) : "";
  // Run again after a lost reply: the position is idempotent; the counts are added, so they may
  // count one batch twice, but they are advisory (the final count is the truth), and stopping a
  // job over a lost checkpoint reply would cost the operator a rerun for nothing.
  // One statement in autocommit (the commit stage saves once per batch): the column's row and
  // the job's updated_at together, in one round trip.
  return connection_->RunStatus(
      "saving a checkpoint", Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
        // No checkpoint keeps the one saved before; "scanned" never goes back to false.
        pqxx::row saved = pqxx::nontransaction(live).exec_prepared1(
            connection_->Prepared(
                "WITH saved AS (UPDATE udmg_job_columns SET "
                "checkpoint_type = coalesce($4::text, checkpoint_type), "
                "checkpoint_key = coalesce($5::text, checkpoint_key), "
                "migrated = migrated + $6::bigint, conflicts = conflicts + $7::bigint, "
                "failed = failed + $8::bigint, scanned = scanned OR $9::boolean "
                "WHERE job_id = $1 AND table_name = $2 AND column_name = $3 RETURNING job_id), "
                "touched AS (UPDATE udmg_jobs SET updated_at = $10 "
                "WHERE id IN (SELECT job_id FROM saved)) "
                "SELECT count(*) FROM saved"),
            job_id, column.table, column.column, checkpoint ? type.c_str() : nullptr,
            checkpoint ? key.c_str() : nullptr, static_cast<int64_t>(migrated),
            static_cast<int64_t>(conflicts), static_cast<int64_t>(failed), scanned,
            internal::UnixNow());
        if (saved[0].as<int64_t>() == 0) {
          return Status(ErrorCode::kNotFound,
                        "job " + std::to_string(job_id) + " has no column '" + column.Name() +
                            "'; resume the job with the columns it started with");
        }
        return Status::Ok();
      });
}

Status PgStore::SetJobState(int64_t job_id, JobState state) {
  return connection_->RunStatus(
      "changing a job's state", Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);  // first, as every keyring change: its audit entry needs it
        pqxx::result found = transaction.exec_params(
            "SELECT kind, state, target_version FROM udmg_jobs WHERE id = $1 FOR UPDATE", job_id);
        if (found.empty()) return NoSuchJob(job_id);
        UDMG_ASSIGN_OR_RETURN(JobState from, ParseJobState(found[0][1].as<std::string>()));
        JobRecord job{job_id, found[0][0].as<std::string>(), state,
                      static_cast<uint32_t>(found[0][2].as<int64_t>())};
        transaction.exec_params(
            // A job that changes state waits for nothing any more (its process may have gone).
            "UPDATE udmg_jobs SET state = $2, updated_at = $3, waiting_for = NULL, "
            "waiting_since = NULL WHERE id = $1",
            job_id, std::string(JobStateName(state)), internal::UnixNow());
        UDMG_RETURN_IF_ERROR(
            AppendJobStateEntry(transaction, audit_signer(), Describe(), job, from));
        transaction.commit();
        return Status::Ok();
      });
}

Status PgStore::RecordJobWait(int64_t job_id, const std::optional<JobWait>& wait) {
  return connection_->RunStatus(
      "recording what a job waits for", Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        // The job's own commit may hold its row for a moment; a report that would wait is dropped.
        transaction.exec("SET LOCAL lock_timeout = '1s'");
        std::optional<std::string> pids;
        std::optional<int64_t> since;
        if (wait) {
          pids = PidsText(wait->blocking_pids);
          since = wait->since;
        }
        transaction.exec_params(
            "UPDATE udmg_jobs SET waiting_for = $2, waiting_since = $3 WHERE id = $1", job_id,
            pids, since);
        transaction.commit();
        return Status::Ok();
      });
}

Result<std::vector<int64_t>> PgStore::BlockingPids(int64_t backend_pid) {
  return connection_->Read<std::vector<int64_t>>(
      "reading which backends block a statement",
      [&](pqxx::transaction_base& session) -> Result<std::vector<int64_t>> {
        std::vector<int64_t> pids;
        for (const pqxx::row& row :
             session.exec_params("SELECT unnest(pg_blocking_pids($1)) ORDER BY 1",
                                 static_cast<int>(backend_pid))) {
          pids.push_back(row[0].as<int64_t>());
        }
        return pids;
      });
}

Status PgStore::RecordFailure(const FailureRecord& failure) {
  // Idempotent: a resumed job meeting the same row again updates its record (upsert).
  return connection_->Execute(
      "recording a failed row", Retry::kIdempotent,
      "INSERT INTO udmg_reencrypt_failures (job_id, table_name, column_name, key_column, "
      "key_type, row_key, version, error_class, recorded_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
      "ON CONFLICT (job_id, table_name, column_name, key_type, row_key) "
      "DO UPDATE SET version = excluded.version, error_class = excluded.error_class, "
      "recorded_at = excluded.recorded_at",
      failure.job_id, failure.column.table, failure.column.column, failure.column.key_column,
      std::string(internal::RowKeyTypeName(failure.key)), RowKeyText(failure.key), failure.version,
      failure.error_class, failure.recorded_at != 0 ? failure.recorded_at : internal::UnixNow());
}

Result<std::vector<FailureRecord>> PgStore::ListFailures(int64_t job_id) {
  return connection_->ReadRows<FailureRecord>(
      "listing failed rows",
      "SELECT table_name, column_name, key_column, key_type, row_key, version, error_class, "
      "recorded_at FROM udmg_reencrypt_failures WHERE job_id = $1 ORDER BY id",
      [&](const pqxx::row& row) -> Result<FailureRecord> {
        FailureRecord failure;
        failure.job_id = job_id;
        failure.column =
            ColumnRef{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()};
        UDMG_ASSIGN_OR_RETURN(failure.key, internal::RowKeyFromStored(row[3].as<std::string>(),
                                                                      row[4].as<std::string>()));
        failure.version = row[5].as<uint32_t>();
        failure.error_class = row[6].as<std::string>();
        failure.recorded_at = row[7].as<int64_t>();
        return failure;
      },
      job_id);
}

}  // namespace udmg::db::postgres
