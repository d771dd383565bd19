// db::Store on SQLite: one SqliteStore is one connection (WAL, synchronous=NORMAL, foreign keys,
// 30 s busy timeout). The write lock is SQLite's database-wide one, taken with BEGIN IMMEDIATE for
// every write, so writers queue instead of failing. SQL for the hot paths (FetchStale,
// CompareAndSwap, ReadValue) is prepared once per connection and column, then reused.
//
// Thread-safety: NOT thread-safe, like every Store; open one per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "db/sqlite/sqlite_connection.h"
#include "db/sqlite/sqlite_range_cas.h"
#include "db/store.h"

namespace udmg::db::sqlite {

// `path` is what follows "sqlite:" in the URL; relative paths are taken from the current
// directory. kCreate creates a missing file (never its directory); kExisting: see db::OpenStore.
Result<std::unique_ptr<Store>> OpenSqliteStore(std::string_view path,
                                               OpenMode mode = OpenMode::kCreate);

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<Connection> connection)
      : connection_(std::move(connection)) {}

  std::string Describe() const override { return connection_->describe(); }
  Status Migrate() override;
  Result<std::optional<int64_t>> OthersCommitMark() override;  // PRAGMA data_version

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

  // A column of a table as pragma_table_info describes it.
  struct TableColumn {
    std::string name;
    bool primary_key = false;  // part of the primary key
    bool not_null = false;     // declared NOT NULL
  };
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
  Result<RowWriteResult> CompareAndSwapOne(const ColumnRef& column,
                                           const CasWrite& write) override;
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

  Status AppendRefusal(std::string_view event, std::string_view reason) override;
  Result<std::vector<AuditEntry>> ListAudit() override;

 private:
  Result<PolicyRows> ReadPolicyRows();  // udmg_policy as stored, valid or not
  // Appends `event` as the trail's next entry; the caller holds the write transaction (the
  // keyring lock). `keyring` is the one the transaction leaves (it names the signer's version).
  Status AppendAuditLocked(const AuditEvent& event, const std::optional<KeyringRecords>& keyring);
  // The entry of a change that leaves the keyring as it is, `make` naming it from the keyring;
  // nothing before `init` (no keyring, no key to seal with). The caller holds the write lock.
  using KeptKeyringEvent = std::function<AuditEvent(const KeyringRecords& keyring)>;
  Status AppendKeyringKeptLocked(const KeptKeyringEvent& make);
  // The audit entry of `job` moving from state `from` (nullopt: just created) to `job.state`
  // (JobStateEvent; nothing when it stays).
  Status AppendJobStateLocked(const JobRecord& job, std::optional<JobState> from);
  // One compare-and-swap and the read-back of the row it wrote, inside the caller's transaction.
  struct CasStatements;
  Result<CasStatements> PrepareCas(const ColumnRef& column, bool has_trigger,
                                   const std::string& what);
  // Whether `table` has a trigger, which can change a row after the compare-and-swap wrote it.
  Result<bool> HasTrigger(const std::string& table, const std::string& what);
  // The batch as one range UPDATE (sqlite_range_cas.h), registering its functions on first use.
  Result<std::vector<CasOutcome>> RangeCas(const ColumnRef& column,
                                           std::span<const CasWrite> writes,
                                           const std::string& what);
  Result<CasOutcome> RunCas(CasStatements& statements, const CasWrite& write);
  // A new shared job's ranges, split at `bounds` (one list per column); inside its transaction.
  Status InsertRanges(int64_t job_id, const std::vector<ColumnRef>& columns,
                      const std::vector<std::vector<RowKey>>& bounds);
  // Keyring rows as they are now; the caller holds a transaction.
  Result<std::optional<KeyringRecords>> ReadKeyringRows();
  // Replaces the keyring rows and bumps the revision; the first keyring makes udmg_meta with
  // `new_keyring_id`, or a random id when it is empty. The caller holds the write transaction.
  Status ReplaceKeyringRows(const KeyringRecords& records, const std::string& new_keyring_id);

  // The one path of every keyring change (UpdateKeyring, UpdateKeyringChecked): in one write
  // transaction (BEGIN IMMEDIATE: the keyring lock), `decide` sees the keyring and the keyring id
  // as they are under the lock and returns what to write (nullopt: nothing, rolled back) or an
  // error (rolled back). The store checks it, writes the keyring, the keyring id when the
  // database had none and the archived rows, then commits.
  using KeyringDecision = std::function<Result<std::optional<KeyringReplacement>>(
      const std::optional<KeyringRecords>& current, const std::string& keyring_id)>;
  Status ChangeKeyringUnderLock(const KeyringDecision& decide);
  // Inside a transaction: the newest job in state "running" makes it kConflict.
  Status RefuseRunningJob();
  // Inside a transaction: CountValues of every registered column, by master version.
  Result<VersionUsage> CountVersionUsage();
  Status InsertArchivedRows(const std::vector<ArchivedKeyRow>& archived);
  // The job whose id `find_sql` selects for ?1 = kind; nullopt when it selects none.
  Result<std::optional<JobRecord>> LoadJobFoundBy(std::string_view find_sql, std::string_view what,
                                                  std::string_view kind);
  // max(version) of udmg_master_keys; nullopt when there is no keyring.
  Result<std::optional<uint32_t>> NewestMasterVersion();
  // kNotFound naming the missing table or column; kBadInput for a key column that is not unique
  // or can hold NULL.
  Status CheckColumnExists(const ColumnRef& column);
  Status CheckKeyNeverNull(const ColumnRef& column, const TableColumn& key, bool is_primary_key);
  // The table's columns; nullopt when there is no such table (exact, case-sensitive name).
  Result<std::optional<std::vector<TableColumn>>> TableColumns(std::string_view table);
  // Rows of the value column with key > after (or all), in key order, matching `where`.
  Result<std::vector<StoredValue>> FetchPage(const ColumnRef& column, const std::string& where,
                                             const StaleFilter* filter,
                                             const std::optional<RowKey>& after, size_t limit);

  std::unique_ptr<Connection> connection_;
  std::unique_ptr<RangeCompareAndSwap> range_cas_;  // registered on connection_ on first use
};

}  // namespace udmg::db::sqlite
