// db::Store on PostgreSQL through libpqxx 6.4. One PgStore is one connection (PgConnection:
// reconnects and retries transient failures, turns every pqxx exception into a one-line Status).
// Keyring changes run under pg_advisory_xact_lock(kKeyringLockId) inside their transaction.
// Hot paths (ReadValue, FetchStale, FetchValues, CompareAndSwap) use statements prepared once per
// connection and column. Row keys are bound as text and cast to the key column's type, read once
// per column from the catalog. Names resolve through the connection's search_path.
//
// Thread-safety: NOT thread-safe, like every Store; open one per thread or pipeline stage.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "db/postgres/postgres_cas.h"
#include "db/postgres/postgres_connection.h"
#include "db/store.h"

namespace udmg::db::postgres {

// pg_advisory_xact_lock key of every keyring change: "udmgkeys" as a big-endian int64.
inline constexpr int64_t kKeyringLockId = 0x75646d67'6b657973;

struct PgStoreOptions {
  CasMethod cas_method = kDefaultCasMethod;
  RetryPolicy retry;
  OpenMode mode = OpenMode::kCreate;  // kExisting: kNotInitialized without udmg-server's schema
};

// `url` is the whole "postgresql://..." or "postgres://..." URL, passed to libpq as it is.
// kDatabase, one line without the password, when it cannot connect.
Result<std::unique_ptr<Store>> OpenPostgresStore(std::string_view url,
                                                 const PgStoreOptions& options = PgStoreOptions());

// Statements shared by a Store method and a keyring change that needs the same answer inside its
// own transaction (under the keyring lock): the registered columns, and CountValues' GROUP BY
// (`column` must have passed ValidateColumnRef; `table_sql` is its ResolvedTable::sql). pqxx
// exceptions propagate to the caller's Run.
std::vector<ColumnRef> ListColumnsIn(pqxx::transaction_base& transaction);
// Keyring rows as they are now, in `transaction`; nullopt when there is none (`describe` names
// the database in the error of a row that does not parse).
Result<std::optional<KeyringRecords>> ReadKeyringRows(pqxx::transaction_base& transaction,
                                                      const std::string& describe);
ValueCounts CountValuesIn(pqxx::transaction_base& transaction, const ColumnRef& column,
                          const std::string& table_sql);
// A table as udmg-server uses it: its schema and its quoted, schema-qualified name for SQL.
struct ResolvedTable {
  std::string schema;
  std::string sql;  // "schema"."table"
};
// The table `table` names: in the schema stored when it was registered, or, for a table not
// registered (or registered before schemas were stored), in the first schema of the session's own
// search_path (`user_schemas`, PgConnection::user_schemas) that has one; nullopt when there is
// none. kDatabase, naming both, when that search_path now finds a table of that name in another
// schema than the registered one: the operator's tools and udmg-server would mean two tables.
Result<std::optional<ResolvedTable>> ResolveTableIn(pqxx::transaction_base& transaction,
                                                    const std::string& user_schemas,
                                                    const std::string& table);
// Store::RowsHiddenFrom in `transaction`, for the table `table_sql` (ResolvedTable::sql).
std::optional<std::string> RowsHiddenIn(pqxx::transaction_base& transaction,
                                        const std::string& table_sql);

class PgStore final : public Store {
 public:
  PgStore(std::unique_ptr<PgConnection> connection, const PgStoreOptions& options)
      : connection_(std::move(connection)), options_(options) {}

  std::string Describe() const override { return connection_->describe(); }
  SessionAccess Access() const override { return connection_->access(); }
  Status Migrate() override;

  Result<std::optional<KeyringRecords>> LoadKeyring() override;
  Result<int64_t> KeyringRevision() override;
  Status UpdateKeyring(const KeyringChange& change) override;
  Result<EncryptionCounts> AddEncryptions(const EncryptionCounts& by_version) override;
  Result<std::map<uint32_t, uint64_t>> LoadEncryptions() override;
  Result<KeyPolicy> LoadPolicy() override;
  Status UpdatePolicy(const PolicyChange& change) override;

  Result<std::vector<ColumnRef>> ListColumns() override;
  Status AddColumn(const ColumnRef& column) override;
  Status RemoveColumn(std::string_view table, std::string_view column) override;
  Result<ColumnRef> FindColumn(std::string_view table, std::string_view column) override;
  Result<ColumnRef> SetColumnBinding(std::string_view table, std::string_view column,
                                     bool bound) override;
  Result<std::optional<std::string>> RowsHiddenFrom(const ColumnRef& column) override;

  Result<std::optional<StoredValue>> ReadValue(const ColumnRef& column, const RowKey& key) override;
  Status WriteValue(const ColumnRef& column, const RowKey& key,
                    const std::optional<std::string>& value) override;
  Result<std::vector<StoredValue>> FetchStale(const ColumnRef& column, const StaleFilter& filter,
                                              const std::optional<RowKey>& after,
                                              size_t limit) override;
  Result<std::vector<StoredValue>> FetchValues(const ColumnRef& column,
                                               const std::optional<RowKey>& after,
                                               size_t limit) override;
  Result<uint64_t> CountStale(const ColumnRef& column, const StaleFilter& filter) override;
  Result<ValueCounts> CountValues(const ColumnRef& column) override;
  Status CheckColumnStillExists(const ColumnRef& column) override;
  Result<uint64_t> CountUnaddressable(const ColumnRef& column,
                                      const StaleFilter* filter) override;
  Result<ValueColumnRoom> MeasureValueColumn(const ColumnRef& column) override;
  Result<std::vector<CasOutcome>> CompareAndSwapChecked(const ColumnRef& column,
                                                        std::span<const CasWrite> writes) override;

  Result<int64_t> CreateJob(std::string_view kind, uint32_t target_version,
                            const std::vector<ColumnRef>& columns) override;
  Result<std::optional<JobRecord>> FindLatestJobNotDone(std::string_view kind) override;
  Result<std::optional<JobRecord>> FindLatestFinishedJob(std::string_view kind) override;
  Result<std::optional<JobRecord>> LoadJob(int64_t job_id) override;
  Status SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                        const std::optional<RowKey>& checkpoint, uint64_t migrated,
                        uint64_t conflicts, uint64_t failed, bool scanned) override;
  Status SetJobState(int64_t job_id, JobState state) override;
  Status RecordJobWait(int64_t job_id, const std::optional<JobWait>& wait) override;
  Result<RowWriteResult> CompareAndSwapOne(const ColumnRef& column,
                                           const CasWrite& write) override;
  Result<std::vector<int64_t>> BlockingPids(int64_t backend_pid) override;
  Status RecordFailure(const FailureRecord& failure) override;
  Result<std::vector<FailureRecord>> ListFailures(int64_t job_id) override;

  Result<SharedJobProbe> ProbeSharedJob(std::string_view kind, uint32_t target_version) override;
  Result<std::vector<RowKey>> SampleRangeBounds(const ColumnRef& column, const StaleFilter& filter,
                                                uint64_t rows_per_range) override;
  Result<std::optional<int64_t>> CreateSharedJob(std::string_view kind, uint32_t target_version,
                                                 const std::vector<ColumnRef>& columns,
                                                 const std::vector<std::vector<RowKey>>& bounds,
                                                 std::optional<int64_t> watermark) override;
  Result<std::optional<JobRange>> ClaimRange(int64_t job_id, std::string_view owner,
                                             int64_t lease_ms) override;
  Status RenewRange(const JobRange& range, std::string_view owner,
                    const std::optional<RowKey>& checkpoint, int64_t lease_ms,
                    bool done) override;
  Result<RangeCounts> CountRanges(int64_t job_id) override;

  Result<std::string> KeyringId() override;
  Status RecordBackup(const BackupRecord& backup) override;
  Result<std::optional<BackupRecord>> LatestBackup() override;
  Status RecordNode(const NodeRecord& node) override;
  Result<std::vector<NodeRecord>> ListNodes() override;
  Status UpdateKeyringChecked(const CheckedKeyringChange& change,
                              bool refuse_while_job_runs) override;
  Result<std::vector<ReplacedKeyRecord>> ListReplacedKeys() override;
  Result<ReplicationState> ReadReplication() override;
  Status AppendRefusal(std::string_view event, std::string_view reason) override;
  Result<std::vector<AuditEntry>> ListAudit() override;

  // The same write-back with a chosen method (benchmarks and tests compare them).
  Result<std::vector<CasOutcome>> CompareAndSwapWith(CasMethod method, const ColumnRef& column,
                                                     std::span<const CasWrite> writes);
  PgConnection& connection() { return *connection_; }

 private:
  // The key column's type, read once per registered column from the catalog; kDatabase naming
  // `what` when the table or a column does not exist.
  Result<KeyColumnType> KeyTypeOf(const ColumnRef& column, std::string_view what);
  Result<std::vector<StoredValue>> FetchPage(const ColumnRef& column, const StaleFilter* filter,
                                             const std::optional<RowKey>& after, size_t limit);

  // The one path of every keyring change (UpdateKeyring, UpdateKeyringChecked): one transaction
  // under pg_advisory_xact_lock(kKeyringLockId), run through the connection's retries as not
  // idempotent (a lost COMMIT is reported, never applied twice). `decide` sees the keyring and the
  // keyring id as they are under the lock, may read more in `transaction`, and returns what to
  // write (nullopt: nothing, rolled back) or an error (rolled back). The store checks it, writes
  // the keyring, the keyring id when the database had none and the archived rows, then commits.
  using KeyringDecision = std::function<Result<std::optional<KeyringReplacement>>(
      pqxx::transaction_base& transaction, const std::optional<KeyringRecords>& current,
      const std::string& keyring_id)>;
  Status ChangeKeyringUnderLock(std::string_view what, const KeyringDecision& decide);

  std::unique_ptr<PgConnection> connection_;
  PgStoreOptions options_;
  std::map<std::string, KeyColumnType> key_types_;  // by ColumnRef::Name() + "." + key column
};

}  // namespace udmg::db::postgres
