// PgStore: key ranges of shared jobs (several processes, one job). Job creation runs under an
// advisory lock; claims use FOR UPDATE SKIP LOCKED; lease times are the server's clock in ms.
#include "db/postgres/postgres_jobs.h"
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// "udmg" "jobs": serializes the creation of shared jobs (two processes starting at once).
constexpr int64_t kSharedJobLockId = 0x75646d67'6a6f6273;
constexpr const char* kNowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

std::optional<int64_t> FindSharedJob(pqxx::transaction_base& transaction, std::string_view kind,
                                     uint32_t target_version) {
  pqxx::result found = transaction.exec_params(
      "SELECT id FROM udmg_jobs j WHERE kind = $1 AND target_version = $2 AND state IN "
      "('running', 'stopped') AND EXISTS (SELECT 1 FROM udmg_job_ranges r WHERE r.job_id = j.id) "
      "ORDER BY id DESC LIMIT 1",
      std::string(kind), target_version);
  if (found.empty()) return std::nullopt;
  return found[0][0].as<int64_t>();
}

// The newest job id of any kind: a watermark taken before sampling a shared job's ranges.
int64_t NewestJobId(pqxx::transaction_base& transaction) {
  return transaction.exec("SELECT coalesce(max(id), 0) FROM udmg_jobs")[0][0].as<int64_t>();
}

// Whether a job of `kind` aimed at `target_version` was created after `watermark`, in any state.
bool JobCreatedSince(pqxx::transaction_base& transaction, std::string_view kind,
                     uint32_t target_version, int64_t watermark) {
  return !transaction
              .exec_params("SELECT 1 FROM udmg_jobs WHERE kind = $1 AND target_version = $2 AND "
                           "id > $3 LIMIT 1",
                           std::string(kind), target_version, watermark)
              .empty();
}

std::optional<std::string> KeyType(const std::optional<RowKey>& key) {
  if (!key) return std::nullopt;
  return std::string(internal::RowKeyTypeName(*key));
}

std::optional<std::string> KeyText(const std::optional<RowKey>& key) {
  if (!key) return std::nullopt;
  return RowKeyText(*key);
}

Result<std::optional<RowKey>> OptionalStoredKey(const pqxx::row& row, int type_column) {
  if (row[type_column].is_null()) return std::optional<RowKey>();
  UDMG_ASSIGN_OR_RETURN(RowKey key, internal::RowKeyFromStored(row[type_column].as<std::string>(),
                                                               row[type_column + 1].as<std::string>()));
  return std::optional<RowKey>(std::move(key));
}

}  // namespace

Result<SharedJobProbe> PgStore::ProbeSharedJob(std::string_view kind, uint32_t target_version) {
  return connection_->Run<SharedJobProbe>(
      "looking for a shared job", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<SharedJobProbe> {
        pqxx::read_transaction transaction(live);
        return SharedJobProbe{FindSharedJob(transaction, kind, target_version),
                              NewestJobId(transaction)};
      });
}

Result<std::optional<int64_t>> PgStore::CreateSharedJob(
    std::string_view kind, uint32_t target_version, const std::vector<ColumnRef>& columns,
    const std::vector<std::vector<RowKey>>& bounds, std::optional<int64_t> watermark) {
  UDMG_RETURN_IF_ERROR(internal::ValidateSharedJobSplit(columns, bounds));
  // Idempotent as a whole: under the lock it finds the job a lost COMMIT may have created.
  return connection_->Run<std::optional<int64_t>>(
      "creating a shared job", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<std::optional<int64_t>> {
        pqxx::work transaction(live);
        transaction.exec_params("SELECT pg_advisory_xact_lock($1)", kSharedJobLockId);
        if (std::optional<int64_t> found = FindSharedJob(transaction, kind, target_version)) {
          return found;
        }
        if (watermark && JobCreatedSince(transaction, kind, target_version, *watermark)) {
          return std::optional<int64_t>();
        }
        UDMG_ASSIGN_OR_RETURN(int64_t job_id, InsertJobRows(transaction, audit_signer(), Describe(),
                                                            kind, target_version, columns));
        for (size_t i = 0; i < columns.size(); ++i) {
          std::optional<RowKey> lower;
          for (size_t r = 0; r <= bounds[i].size(); ++r) {
            std::optional<RowKey> upper;
            if (r < bounds[i].size()) upper = bounds[i][r];
            transaction.exec_params(
                "INSERT INTO udmg_job_ranges (job_id, table_name, column_name, position, "
                "lower_type, lower_key, upper_type, upper_key) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                job_id, columns[i].table, columns[i].column, static_cast<int64_t>(r),
                KeyType(lower), KeyText(lower), KeyType(upper), KeyText(upper));
            lower = upper;
          }
        }
        transaction.commit();
        return std::optional<int64_t>(job_id);
      });
}

Result<std::optional<JobRange>> PgStore::ClaimRange(int64_t job_id, std::string_view owner,
                                                    int64_t lease_ms) {
  std::string find =
      std::string("SELECT r.table_name, r.column_name, c.key_column, r.position, r.lower_type, "
                  "r.lower_key, r.upper_type, r.upper_key, r.checkpoint_type, r.checkpoint_key "
                  "FROM udmg_job_ranges r JOIN udmg_job_columns c ON c.job_id = r.job_id AND "
                  "c.table_name = r.table_name AND c.column_name = r.column_name "
                  "WHERE r.job_id = $1 AND NOT r.done AND r.lease_expires_ms < ") +
      kNowMs + " ORDER BY c.position, r.position LIMIT 1 FOR UPDATE OF r SKIP LOCKED";
  std::string claim = std::string("UPDATE udmg_job_ranges SET owner = $5, lease_expires_ms = ") +
                      kNowMs +
                      " + $6 WHERE job_id = $1 AND table_name = $2 AND column_name = $3 AND "
                      "position = $4";
  // Idempotent: a claim lost with its COMMIT leaves the range free again (or leased to this
  // owner, which the next claim simply skips until the lease expires).
  return connection_->Run<std::optional<JobRange>>(
      "claiming a key range", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<std::optional<JobRange>> {
        pqxx::work transaction(live);
        pqxx::result found = transaction.exec_params(find, job_id);
        if (found.empty()) return std::optional<JobRange>();
        const pqxx::row& row = found[0];
        JobRange range;
        range.job_id = job_id;
        range.column = ColumnRef{row[0].as<std::string>(), row[1].as<std::string>(),
                                 row[2].as<std::string>()};
        range.position = row[3].as<int64_t>();
        UDMG_ASSIGN_OR_RETURN(range.lower, OptionalStoredKey(row, 4));
        UDMG_ASSIGN_OR_RETURN(range.upper, OptionalStoredKey(row, 6));
        UDMG_ASSIGN_OR_RETURN(range.checkpoint, OptionalStoredKey(row, 8));
        range.owner = std::string(owner);
        transaction.exec_params(claim, job_id, range.column.table, range.column.column,
                                range.position, range.owner, lease_ms);
        transaction.commit();
        return std::optional<JobRange>(std::move(range));
      });
}

Status PgStore::RenewRange(const JobRange& range, std::string_view owner,
                           const std::optional<RowKey>& checkpoint, int64_t lease_ms, bool done) {
  // No checkpoint keeps the one saved before.
  std::string renew =
      std::string("UPDATE udmg_job_ranges SET checkpoint_type = coalesce($6, checkpoint_type), "
                  "checkpoint_key = coalesce($7, checkpoint_key), done = $9, "
                  "lease_expires_ms = ") +
      kNowMs +
      " + $8 WHERE job_id = $1 AND table_name = $2 AND column_name = $3 AND position = $4 AND "
      "owner = $5 AND NOT done";
  // Idempotent: the same checkpoint and lease written twice is the same state.
  return connection_->RunStatus(
      "renewing a key range's lease", Retry::kIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        pqxx::result updated = transaction.exec_params(
            renew, range.job_id, range.column.table, range.column.column, range.position,
            std::string(owner), KeyType(checkpoint), KeyText(checkpoint), lease_ms, done);
        if (updated.affected_rows() == 0) return internal::LeaseLost(range);
        transaction.commit();
        return Status::Ok();
      });
}

Result<RangeCounts> PgStore::CountRanges(int64_t job_id) {
  std::string count =
      std::string("SELECT count(*) FILTER (WHERE NOT done AND lease_expires_ms < ") + kNowMs +
      "), count(*) FILTER (WHERE NOT done AND lease_expires_ms >= " + kNowMs +
      "), count(*) FILTER (WHERE done) FROM udmg_job_ranges WHERE job_id = $1";
  return connection_->Run<RangeCounts>(
      "counting key ranges", Retry::kIdempotent, [&](pqxx::connection& live) -> Result<RangeCounts> {
        pqxx::read_transaction transaction(live);
        pqxx::row row = transaction.exec_params1(count, job_id);
        return RangeCounts{row[0].as<uint64_t>(), row[1].as<uint64_t>(), row[2].as<uint64_t>()};
      });
}

}  // namespace udmg::db::postgres
