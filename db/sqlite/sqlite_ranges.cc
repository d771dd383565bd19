// SqliteStore: key ranges of shared jobs (several processes, one job). BEGIN IMMEDIATE serializes
// job creation and claims; lease times are the database's clock in milliseconds.
#include "db/sqlite/sqlite_jobs.h"
#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

constexpr const char* kNowMs = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

// The newest resumable job of ?1 aimed at ?2 that has ranges (a shared job), if any.
Result<std::optional<int64_t>> FindSharedJob(Connection& connection, std::string_view kind,
                                             uint32_t target_version) {
  return connection.QueryInt(
      "SELECT id FROM udmg_jobs j WHERE kind = ?1 AND target_version = ?2 "
      "AND state IN ('running', 'stopped') AND EXISTS (SELECT 1 FROM "
      "udmg_job_ranges r WHERE r.job_id = j.id) ORDER BY id DESC LIMIT 1",
      "looking for a shared job", kind, target_version);
}

// The newest job id of any kind: a watermark taken before sampling a shared job's ranges.
Result<int64_t> NewestJobId(Connection& connection) {
  UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> newest,
                        connection.QueryInt("SELECT coalesce(max(id), 0) FROM udmg_jobs",
                                            "looking for the newest job"));
  return newest.value_or(0);
}

// Whether a job of ?1 aimed at ?2 was created after the watermark, in any state.
Result<bool> JobCreatedSince(Connection& connection, std::string_view kind,
                             uint32_t target_version, int64_t watermark) {
  UDMG_ASSIGN_OR_RETURN(
      std::optional<int64_t> newer,
      connection.QueryInt("SELECT 1 FROM udmg_jobs WHERE kind = ?1 AND "
                          "target_version = ?2 AND id > ?3 LIMIT 1",
                          "looking for a newer job", kind, target_version, watermark));
  return newer.has_value();
}

// Binds a key's (type, text) to type_index and the next index; both NULL when there is none.
void BindOptionalKey(Statement& statement, int type_index, const std::optional<RowKey>& key) {
  if (!key) {
    statement.BindNull(type_index);
    statement.BindNull(type_index + 1);
    return;
  }
  statement.BindText(type_index, internal::RowKeyTypeName(*key));
  statement.BindText(type_index + 1, RowKeyText(*key));
}

Result<std::optional<RowKey>> OptionalStoredKey(const Statement& row, int type_column) {
  if (row.IsNull(type_column)) return std::optional<RowKey>();
  UDMG_ASSIGN_OR_RETURN(RowKey key,
                        internal::RowKeyFromStored(row.Text(type_column), row.Text(type_column + 1)));
  return std::optional<RowKey>(std::move(key));
}

}  // namespace

Result<SharedJobProbe> SqliteStore::ProbeSharedJob(std::string_view kind, uint32_t target_version) {
  SharedJobProbe probe;
  UDMG_ASSIGN_OR_RETURN(probe.existing, FindSharedJob(*connection_, kind, target_version));
  UDMG_ASSIGN_OR_RETURN(probe.watermark, NewestJobId(*connection_));
  return probe;
}

Result<std::optional<int64_t>> SqliteStore::CreateSharedJob(
    std::string_view kind, uint32_t target_version, const std::vector<ColumnRef>& columns,
    const std::vector<std::vector<RowKey>>& bounds, std::optional<int64_t> watermark) {
  UDMG_RETURN_IF_ERROR(internal::ValidateSharedJobSplit(columns, bounds));
  constexpr std::string_view kWhat = "creating a shared job";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> existing,
                        FindSharedJob(*connection_, kind, target_version));
  if (existing) return existing;  // another process created it while this one sampled
  if (watermark) {
    UDMG_ASSIGN_OR_RETURN(bool overtaken,
                          JobCreatedSince(*connection_, kind, target_version, *watermark));
    if (overtaken) return std::optional<int64_t>();  // rolls back
  }
  UDMG_ASSIGN_OR_RETURN(int64_t job_id,
                        InsertJobRows(*connection_, kind, target_version, columns, kWhat));
  UDMG_RETURN_IF_ERROR(InsertRanges(job_id, columns, bounds));
  UDMG_RETURN_IF_ERROR(AppendJobStateLocked(
      JobRecord{job_id, std::string(kind), JobState::kRunning, target_version}, std::nullopt));
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return std::optional<int64_t>(job_id);
}

Status SqliteStore::InsertRanges(int64_t job_id, const std::vector<ColumnRef>& columns,
                                 const std::vector<std::vector<RowKey>>& bounds) {
  UDMG_ASSIGN_OR_RETURN(Statement add_range,
                        connection_->Prepare("INSERT INTO udmg_job_ranges (job_id, table_name, "
                                             "column_name, position, lower_type, lower_key, "
                                             "upper_type, upper_key) "
                                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                             "creating a shared job"));
  for (size_t i = 0; i < columns.size(); ++i) {
    std::optional<RowKey> lower;
    for (size_t r = 0; r <= bounds[i].size(); ++r) {
      std::optional<RowKey> upper;
      if (r < bounds[i].size()) upper = bounds[i][r];
      add_range.BindAll(job_id, columns[i].table, columns[i].column, r);
      BindOptionalKey(add_range, 5, lower);
      BindOptionalKey(add_range, 7, upper);
      UDMG_RETURN_IF_ERROR(add_range.Run());
      lower = upper;
    }
  }
  return Status::Ok();
}

Result<std::optional<JobRange>> SqliteStore::ClaimRange(int64_t job_id, std::string_view owner,
                                                        int64_t lease_ms) {
  constexpr std::string_view kWhat = "claiming a key range";
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  JobRange range;
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement find,
        connection_->Prepare(std::string("SELECT r.table_name, r.column_name, c.key_column, "
                                         "r.position, r.lower_type, r.lower_key, r.upper_type, "
                                         "r.upper_key, r.checkpoint_type, r.checkpoint_key "
                                         "FROM udmg_job_ranges r JOIN udmg_job_columns c ON "
                                         "c.job_id = r.job_id AND c.table_name = r.table_name "
                                         "AND c.column_name = r.column_name WHERE r.job_id = ?1 "
                                         "AND r.done = 0 AND r.lease_expires_ms < ") +
                                 kNowMs + " ORDER BY c.position, r.position LIMIT 1",
                             kWhat));
    find.BindInt(1, job_id);
    UDMG_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) return std::optional<JobRange>();
    range.job_id = job_id;
    range.column = ColumnRef{find.Text(0), find.Text(1), find.Text(2)};
    range.position = find.Int(3);
    UDMG_ASSIGN_OR_RETURN(range.lower, OptionalStoredKey(find, 4));
    UDMG_ASSIGN_OR_RETURN(range.upper, OptionalStoredKey(find, 6));
    UDMG_ASSIGN_OR_RETURN(range.checkpoint, OptionalStoredKey(find, 8));
    range.owner = std::string(owner);
  }
  UDMG_RETURN_IF_ERROR(connection_->Execute(
      std::string("UPDATE udmg_job_ranges SET owner = ?5, lease_expires_ms = ") + kNowMs +
          " + ?6 WHERE job_id = ?1 AND table_name = ?2 AND column_name = ?3 AND position = ?4",
      kWhat, job_id, range.column.table, range.column.column, range.position, owner, lease_ms));
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return std::optional<JobRange>(std::move(range));
}

Status SqliteStore::RenewRange(const JobRange& range, std::string_view owner,
                               const std::optional<RowKey>& checkpoint, int64_t lease_ms,
                               bool done) {
  constexpr std::string_view kWhat = "renewing a key range's lease";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    // No checkpoint keeps the one saved before.
    UDMG_ASSIGN_OR_RETURN(
        Statement renew,
        connection_->Prepare(std::string("UPDATE udmg_job_ranges SET "
                                         "checkpoint_type = coalesce(?6, checkpoint_type), "
                                         "checkpoint_key = coalesce(?7, checkpoint_key), "
                                         "done = ?9, lease_expires_ms = ") +
                                 kNowMs + " + ?8 WHERE job_id = ?1 AND table_name = ?2 AND "
                                          "column_name = ?3 AND position = ?4 AND owner = ?5 "
                                          "AND done = 0",
                             kWhat));
    renew.BindAll(range.job_id, range.column.table, range.column.column, range.position, owner);
    BindOptionalKey(renew, 6, checkpoint);
    renew.BindInt(8, lease_ms);
    renew.BindInt(9, done ? 1 : 0);
    UDMG_RETURN_IF_ERROR(renew.Run());
    if (connection_->Changes() == 0) return internal::LeaseLost(range);
    return Status::Ok();
  });
}

Result<RangeCounts> SqliteStore::CountRanges(int64_t job_id) {
  UDMG_ASSIGN_OR_RETURN(
      Statement count,
      connection_->Prepare(std::string("SELECT coalesce(sum(done = 0 AND lease_expires_ms < ") +
                               kNowMs + "), 0), coalesce(sum(done = 0 AND lease_expires_ms >= " +
                               kNowMs + "), 0), coalesce(sum(done <> 0), 0) "
                                        "FROM udmg_job_ranges WHERE job_id = ?1",
                           "counting key ranges"));
  count.BindInt(1, job_id);
  UDMG_ASSIGN_OR_RETURN(bool has_row, count.Step());
  RangeCounts counts;
  if (has_row) {
    counts.open = static_cast<uint64_t>(count.Int(0));
    counts.leased = static_cast<uint64_t>(count.Int(1));
    counts.done = static_cast<uint64_t>(count.Int(2));
  }
  return counts;
}

}  // namespace udmg::db::sqlite
