// db::Store: everything udmg-server keeps in or reads from the database, behind one interface with
// two backends: SQLite (embedded, the default) and PostgreSQL (libpqxx). Callers never see SQL.
//
// One Store is one database connection. Thread-safety: NOT thread-safe; open one Store per thread
// or per concurrent pipeline stage (OpenStore is cheap for SQLite). Backend exceptions are caught
// inside db/ and come back as Status: kDatabase for SQL/connection failures, kNotFound for unknown
// tables/columns/rows, kConflict for lost races, kNotInitialized for a missing keyring.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "engine/audit_chain.h"
#include "engine/cryptoperiod.h"
#include "engine/keyring.h"
#include "engine/restore.h"

namespace udmg::db {

// A registered encrypted column (udmg_encrypted_columns). Names are SQL identifiers
// ([A-Za-z_][A-Za-z0-9_]*, checked on registration) and are quoted when used.
//
// Row binding (docs/security.md, "Binding values to their row"): a bound column's values are
// written as udmg:b<N>: envelopes whose AAD names the table, column and row key. `bound_since` is
// nullopt for an unbound column; for a bound one it is the first master version under which an
// unbound envelope is refused (the newest version when binding was switched on, plus one).
struct ColumnRef {
  std::string table;
  std::string column;
  std::string key_column = "id";
  std::optional<uint32_t> bound_since;
  std::string Name() const { return table + "." + column; }  // "credentials.secret"
  bool bound() const { return bound_since.has_value(); }
  // Identity: the same column whatever its binding (a job's columns carry no binding).
  bool operator==(const ColumnRef& other) const {
    return table == other.table && column == other.column && key_column == other.key_column;
  }
};

// The prefix of a value of `column` migrated to `version`: "udmg:b7:" when the column is bound,
// "udmg:v7:" otherwise. Stale values are those without it (StaleFilter).
std::string TargetPrefix(const ColumnRef& column, uint32_t version);

// A row's key as the database returns it: integer keys stay integers so that keyset pagination
// orders them numerically.
using RowKey = std::variant<int64_t, std::string>;
std::string RowKeyText(const RowKey& key);
// An operator's KEY argument: a decimal integer becomes an integer key, anything else text.
RowKey ParseRowKey(std::string_view text);

struct StoredValue {
  RowKey key;
  std::optional<std::string> value;  // NULL stays NULL
};

// One compare-and-swap: UPDATE t SET c = replacement WHERE key = key AND c = expected.
struct CasWrite {
  RowKey key;
  std::string expected;
  std::string replacement;
};

// What one compare-and-swap did (Store::CompareAndSwapChecked).
enum class CasOutcome : uint8_t {
  kNotApplied,  // no row had that key and the expected value: left alone
  kApplied,     // written, and the row holds the value written
  // Written, but the row then holds another value: the database changed it (a trigger). The
  // value written is lost; the tool cannot undo what the trigger did.
  kAltered,
};
inline bool WasWritten(CasOutcome outcome) { return outcome != CasOutcome::kNotApplied; }
// CompareAndSwap's answer from CompareAndSwapChecked's: true where the row was written.
std::vector<bool> WrittenRows(const std::vector<CasOutcome>& outcomes);

// A compare-and-swap of one row alone (Store::CompareAndSwapOne).
struct RowWriteResult {
  bool applied = false;                // as CompareAndSwap's result
  bool altered = false;                // applied, but the row does not hold what was written
  std::optional<std::string> refused;  // the database refused this row: its message, one line
};

// The rows a migration to `target_version` must touch: values that do not start with the column's
// TargetPrefix (any other version, or the other envelope form), plus legacy plaintext (no "udmg:"
// prefix) when `include_plaintext`. NULLs never. Matching is on the text prefix,
// case-sensitively ("udmg:v7:" is not "UDMG:V7:").
struct StaleFilter {
  uint32_t target_version = 0;
  bool include_plaintext = false;
};

// How a column's values are spread, counted in the database (one GROUP BY, no decryption).
struct ValueCounts {
  std::map<uint32_t, uint64_t> by_version;  // "udmg:v<N>:..." and "udmg:b<N>:..." per N
  uint64_t bound = 0;                       // of those, the bound form "udmg:b<N>:"
  uint64_t plaintext = 0;                   // no "udmg:" prefix
  uint64_t malformed = 0;                   // "udmg:" prefix but no valid version
  uint64_t null_values = 0;
};

// What a value column can hold, for the registration's warning that envelopes may not fit.
struct ValueColumnRoom {
  std::optional<uint64_t> max_chars;  // the declared limit (PostgreSQL varchar(n)); none: nullopt
  uint64_t longest_plaintext = 0;     // bytes of the longest value without the "udmg:" prefix
};

// Re-encryption jobs: one row per job, one progress row per column, failures apart.
struct JobColumnProgress {
  ColumnRef column;
  std::optional<RowKey> checkpoint;  // every row at or before it has been committed
  uint64_t migrated = 0;
  uint64_t conflicts = 0;
  uint64_t failed = 0;
  bool scanned = false;  // the keyset scan reached the end of the table
};
// What a running job's statement waits for (PostgreSQL: a lock held by other backends), as the
// job's process stores it on its job row so that another process's `reencrypt --status` shows it.
struct JobWait {
  std::vector<int64_t> blocking_pids;  // pg_blocking_pids of the waiting backend
  int64_t since = 0;                   // unix seconds, when the statement started waiting
};
// Stored as its name (JobStateName) in udmg_jobs.state. Running and stopped jobs are resumed
// (running also after a crash); done and failed are final (failed: values that do not decrypt were
// left, or a newer target version superseded the job).
enum class JobState { kRunning, kStopped, kFailed, kDone };
std::string_view JobStateName(JobState state);  // "running", "stopped", "failed", "done"
// kDatabase for a stored state that is not one of the names (the table was edited by hand).
Result<JobState> ParseJobState(std::string_view name);

struct JobRecord {
  int64_t id = 0;
  std::string kind;  // "reencrypt" or "sweep"
  JobState state = JobState::kRunning;
  uint32_t target_version = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::vector<JobColumnProgress> columns;
  std::optional<JobWait> waiting;  // stored by the job's process while a statement waits
};
struct FailureRecord {
  int64_t job_id = 0;
  ColumnRef column;
  RowKey key;
  uint32_t version = 0;     // 0 when the envelope is malformed
  std::string error_class;  // "malformed", "unknown_version", "decryption_failed"
  int64_t recorded_at = 0;
};

// Shared jobs: several processes share one job by leasing key ranges of its columns.
// A range holds the keys in (lower, upper] (nullopt: unbounded on that side) and its own
// checkpoint; a process owns it while its lease runs, and a range whose lease expired (its
// process died) can be claimed by another.
struct JobRange {
  int64_t job_id = 0;
  ColumnRef column;
  int64_t position = 0;               // order within the column
  std::optional<RowKey> lower;        // exclusive
  std::optional<RowKey> upper;        // inclusive
  std::optional<RowKey> checkpoint;   // every row after `lower` and up to it is committed
  bool done = false;
  std::string owner;                  // the last process that claimed it ("" when never)
};
// What JobStore::ProbeSharedJob finds.
struct SharedJobProbe {
  std::optional<int64_t> existing;  // the shared job to join
  int64_t watermark = 0;            // the newest job id of any kind
};
struct RangeCounts {
  uint64_t open = 0;    // not done and not leased (never claimed, or lease expired)
  uint64_t leased = 0;  // not done, lease still running
  uint64_t done = 0;
};

// Disaster recovery and nodes.
// A backup was taken: when, of which root version (by fingerprint) and keyring revision. The
// database records that a backup exists, never the file or its passphrase.
struct BackupRecord {
  int64_t taken_at = 0;  // unix seconds
  uint32_t root_version = 0;
  std::string root_fingerprint;
  int64_t keyring_revision = 0;
};
// A process that opened the keyring (udmg_nodes, one row per node id, last writer wins).
struct NodeRecord {
  std::string node_id;                // --node-id / UDMG_NODE_ID, default the host name
  std::string host;                   // gethostname()
  int64_t pid = 0;
  std::string program;                // e.g. "udmg-server reencrypt"
  std::optional<uint32_t> root_version;  // the version its K0 matches; nullopt: unknown K0
  std::string root_fingerprint;       // of its K0 (empty when its K0 was missing or malformed)
  int64_t first_seen = 0;             // unix seconds; kept across updates
  int64_t last_seen = 0;
};
// A streaming replica as the primary sees it (PostgreSQL pg_stat_replication). A position or lag
// the session may not read (the columns are NULL without pg_monitor / pg_read_all_stats) is
// nullopt.
struct ReplicaPosition {
  std::string name;                        // application_name, or the client address
  std::optional<uint64_t> replay_lsn;      // the WAL position the replica has applied
  std::optional<double> replay_lag_seconds;  // the server's own replay_lag; nullopt when NULL
};
// The primary's WAL position and every streaming replica, read in one statement.
struct ReplicationState {
  uint64_t primary_lsn = 0;  // pg_current_wal_lsn()
  std::vector<ReplicaPosition> replicas;
};
// A keyring row set aside by a restore (udmg_replaced_keys), with when it happened.
struct ReplacedKeyRecord {
  ArchivedKeyRow row;
  int64_t replaced_at = 0;
};
// What a checked keyring change writes: the complete keyring, the keyring id (set when the
// database had none), the rows set aside, and how its audit entry names the change.
struct KeyringReplacement {
  KeyringRecords records;
  std::string keyring_id;
  std::vector<ArchivedKeyRow> archived;
  std::string audit_event = "keyring";  // AuditEntry::event
  std::string audit_detail;             // AuditEntry::detail
};

// Whether this connection may write, as the server said when the session began (PostgreSQL:
// transaction_read_only and pg_is_in_recovery(), read once per connection and again after a
// reconnect). A read-only session makes no write at all: readers skip their bookkeeping writes,
// and a command that must write fails at its first write (docs/postgres.md, "Read-only sessions").
struct SessionAccess {
  bool read_only = false;  // a hot standby, or default_transaction_read_only on
  bool standby = false;    // the server is a hot standby (pg_is_in_recovery()): it may lag
};

// The storage interfaces. One backend class implements them all (Store, below); a function that
// needs one part takes that part, so what it may touch is in its signature.

// The keyring rows, their revision, and the encryption counts of the nonce budget.
class KeyringStore {
 public:
  virtual ~KeyringStore() = default;

  // nullopt when `init` has not run.
  virtual Result<std::optional<KeyringRecords>> LoadKeyring() = 0;
  // Cheap check for a keyring change made by another process.
  virtual Result<int64_t> KeyringRevision() = 0;
  // One transaction under the database-wide keyring lock (SQLite: BEGIN IMMEDIATE; PostgreSQL:
  // pg_advisory_xact_lock). `change` sees the keyring as it is under the lock (nullopt if none)
  // and returns the complete new keyring, or an error to roll back. The store replaces the
  // keyring rows, bumps the revision and commits. Nothing is written when `change` fails.
  using KeyringChange =
      std::function<Result<KeyringRecords>(const std::optional<KeyringRecords>& current)>;
  virtual Status UpdateKeyring(const KeyringChange& change) = 0;

  // Encryptions made per master version (the GCM nonce budget, docs/formats.md). AddEncryptions
  // returns the new total of each version it added to.
  using EncryptionCounts = std::map<uint32_t, uint64_t>;
  virtual Result<EncryptionCounts> AddEncryptions(const EncryptionCounts& by_version) = 0;
  virtual Result<EncryptionCounts> LoadEncryptions() = 0;

  // The cryptoperiod policy (udmg_policy): no limit where none is set. kCorruptValue for a row
  // that is not a valid limit.
  virtual Result<KeyPolicy> LoadPolicy() = 0;
  // One transaction under the keyring lock: `change` sees the policy as it is under the lock and
  // returns the new one, which replaces it, with its audit entry (event "policy"; the keyring's
  // versions before and after are the current ones). Nothing is written when `change` fails,
  // for a policy ValidatePolicy refuses (kBadInput), or without a keyring (kNotInitialized).
  using PolicyChange = std::function<Result<KeyPolicy>(const KeyPolicy& current)>;
  virtual Status UpdatePolicy(const PolicyChange& change) = 0;
};

// The registered encrypted columns and what the database says about their tables.
class ColumnStore {
 public:
  virtual ~ColumnStore() = default;

  virtual Result<std::vector<ColumnRef>> ListColumns() = 0;
  // kNotFound naming what is missing if the table, the column or the key column does not exist;
  // kBadInput for a name that is not an identifier; kConflict if already registered.
  virtual Status AddColumn(const ColumnRef& column) = 0;
  virtual Status RemoveColumn(std::string_view table, std::string_view column) = 0;  // kNotFound
  virtual Result<ColumnRef> FindColumn(std::string_view table, std::string_view column) = 0;
  // A registered column whose table, value column or key column was dropped or renamed since:
  // kNotFound naming what is missing and the fix (`udmg-server columns remove T.C`). Reads only.
  virtual Status CheckColumnStillExists(const ColumnRef& column) = 0;
  // Rows whose key is NULL while their value is not (only stale values, with `filter`): no job,
  // read or verify can address them (pagination and compare-and-swap go by key).
  virtual Result<uint64_t> CountUnaddressable(const ColumnRef& column,
                                              const StaleFilter* filter) = 0;
  virtual Result<ValueColumnRoom> MeasureValueColumn(const ColumnRef& column) = 0;
  // Switches row binding of a registered column on (bound_since = the newest master version + 1)
  // or off (NULL), and bumps the keyring revision so that every client reloads its columns. One
  // transaction under the keyring lock (no rotation in between). kNotFound when not registered,
  // kNotInitialized without a keyring. Returns the column as now registered.
  virtual Result<ColumnRef> SetColumnBinding(std::string_view table, std::string_view column,
                                             bool bound) = 0;
  // Why this connection may not see every row of `column`'s table (PostgreSQL row-level security
  // that applies to the role), as one sentence naming the fix; nullopt when it sees every row.
  // The default (SQLite, test wrappers): every row is visible.
  virtual Result<std::optional<std::string>> RowsHiddenFrom(const ColumnRef& column);
};

// The encrypted values: reads, counts, and compare-and-swap writes.
class ValueStore {
 public:
  virtual ~ValueStore() = default;

  // nullopt when no row has that key.
  virtual Result<std::optional<StoredValue>> ReadValue(const ColumnRef& column,
                                                       const RowKey& key) = 0;
  // Plain UPDATE of one row; kNotFound when no row has that key.
  virtual Status WriteValue(const ColumnRef& column, const RowKey& key,
                            const std::optional<std::string>& value) = 0;
  // Keyset pagination: up to `limit` rows with key > `after` (all when nullopt), in key order.
  virtual Result<std::vector<StoredValue>> FetchStale(const ColumnRef& column,
                                                      const StaleFilter& filter,
                                                      const std::optional<RowKey>& after,
                                                      size_t limit) = 0;
  // The same over every non-NULL value (for verify).
  virtual Result<std::vector<StoredValue>> FetchValues(const ColumnRef& column,
                                                       const std::optional<RowKey>& after,
                                                       size_t limit) = 0;
  virtual Result<uint64_t> CountStale(const ColumnRef& column, const StaleFilter& filter) = 0;
  virtual Result<ValueCounts> CountValues(const ColumnRef& column) = 0;
  // All writes in one transaction; outcome[i] says whether writes[i] matched and was applied.
  // A row whose value changed since it was read is left alone (kNotApplied), never overwritten;
  // a row that was written but does not read back as written (a trigger rewrote it) is kAltered,
  // told in the same statement or transaction, without another round trip.
  virtual Result<std::vector<CasOutcome>> CompareAndSwapChecked(
      const ColumnRef& column, std::span<const CasWrite> writes) = 0;
  // CompareAndSwapChecked's answer as true where the row was written.
  Result<std::vector<bool>> CompareAndSwap(const ColumnRef& column,
                                           std::span<const CasWrite> writes);

  // One compare-and-swap in its own transaction, telling a write the database refuses for this
  // row's data (a trigger raising, a constraint, a value too long or of the wrong type:
  // PostgreSQL SQLSTATE classes 22, 23 and P0; SQLite CONSTRAINT, TOOBIG, MISMATCH) from any other
  // failure, which stays an error. The message is the database's first line only (PostgreSQL's
  // DETAIL, which may quote the row, is dropped).
  virtual Result<RowWriteResult> CompareAndSwapOne(const ColumnRef& column,
                                                   const CasWrite& write) = 0;
};

// Re-encryption jobs: their rows, checkpoints, failures and, for shared jobs, key ranges.
class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual Result<int64_t> CreateJob(std::string_view kind, uint32_t target_version,
                                    const std::vector<ColumnRef>& columns) = 0;
  // The newest job of `kind` that is not done, if any: running or stopped (to resume), or failed
  // (final: a new job starts, and an older stopped one is not looked for).
  virtual Result<std::optional<JobRecord>> FindLatestJobNotDone(std::string_view kind) = 0;
  // The newest job of `kind` that ended, "done" or "failed" (for `reencrypt --status`), if any.
  virtual Result<std::optional<JobRecord>> FindLatestFinishedJob(std::string_view kind) = 0;
  virtual Result<std::optional<JobRecord>> LoadJob(int64_t job_id) = 0;
  // Moves the column's checkpoint forward and adds the counts, in one transaction.
  virtual Status SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                                const std::optional<RowKey>& checkpoint, uint64_t migrated,
                                uint64_t conflicts, uint64_t failed, bool scanned) = 0;
  virtual Status SetJobState(int64_t job_id, JobState state) = 0;
  virtual Status RecordFailure(const FailureRecord& failure) = 0;
  // Stores (or clears, nullopt) what the job's statement waits for. Touches nothing else of the
  // job row; gives up rather than wait behind a lock itself. The default (SQLite, whose
  // statements wait at most their busy timeout): nothing is stored.
  virtual Status RecordJobWait(int64_t job_id, const std::optional<JobWait>& wait);
  // The backends that block `backend_pid` (PostgreSQL pg_blocking_pids); the default (SQLite):
  // none.
  virtual Result<std::vector<int64_t>> BlockingPids(int64_t backend_pid);
  virtual Result<std::vector<FailureRecord>> ListFailures(int64_t job_id) = 0;

  // ---- Shared jobs (several processes, one job): db::FindOrCreateSharedJob below runs the
  // creation on the first three.
  // The newest "running"/"stopped" job of `kind` aimed at `target_version` that has ranges, if
  // any, and the newest job id of any kind (the watermark of a creation).
  virtual Result<SharedJobProbe> ProbeSharedJob(std::string_view kind, uint32_t target_version) = 0;
  // Every `rows_per_range`-th stale key of `column` (by `filter`) in key order: the upper bounds
  // of a shared job's ranges. Reads only, and takes no lock.
  virtual Result<std::vector<RowKey>> SampleRangeBounds(const ColumnRef& column,
                                                        const StaleFilter& filter,
                                                        uint64_t rows_per_range) = 0;
  // One transaction under the database-wide job lock (PostgreSQL: pg_advisory_xact_lock; SQLite:
  // BEGIN IMMEDIATE): the shared job if one exists by now; else nullopt when a job of `kind`
  // aimed at `target_version` was created after `watermark`, in any state (the sample may count
  // rows it migrated); else a new job over `columns`, each split at its list of `bounds` (the last
  // range has no upper bound, so rows inserted later are covered). Never nullopt without a
  // watermark.
  virtual Result<std::optional<int64_t>> CreateSharedJob(
      std::string_view kind, uint32_t target_version, const std::vector<ColumnRef>& columns,
      const std::vector<std::vector<RowKey>>& bounds, std::optional<int64_t> watermark) = 0;
  // Claims, for `lease_ms`, the first range of the job (column order, then position) that is not
  // done and whose lease is free or expired; nullopt when none is (all done or leased). Skips
  // ranges locked by a concurrent claim (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN
  // IMMEDIATE serializes claims).
  virtual Result<std::optional<JobRange>> ClaimRange(int64_t job_id, std::string_view owner,
                                                     int64_t lease_ms) = 0;
  // Saves the range's checkpoint and extends the lease by `lease_ms` from now, and with `done`
  // marks it done. kConflict when `owner` no longer holds it (its lease expired and another
  // process claimed it): the caller must stop working on it.
  virtual Status RenewRange(const JobRange& range, std::string_view owner,
                            const std::optional<RowKey>& checkpoint, int64_t lease_ms,
                            bool done) = 0;
  virtual Result<RangeCounts> CountRanges(int64_t job_id) = 0;
};

// Disaster recovery and nodes: the keyring id, backups, the nodes seen, checked keyring changes
// and the keys they replaced.
class RecoveryStore {
 public:
  virtual ~RecoveryStore() = default;

  // udmg_meta.keyring_id; "" when `init` has not run.
  virtual Result<std::string> KeyringId() = 0;
  virtual Status RecordBackup(const BackupRecord& backup) = 0;
  virtual Result<std::optional<BackupRecord>> LatestBackup() = 0;  // newest taken_at
  // Upsert by node_id (first_seen kept from the existing row).
  virtual Status RecordNode(const NodeRecord& node) = 0;
  virtual Result<std::vector<NodeRecord>> ListNodes() = 0;  // by node_id
  // One transaction under the keyring lock (as UpdateKeyring): the store counts the values of
  // every registered column by master version (VersionUsage) under the lock, calls `change` with
  // the keyring (nullopt if none), the keyring id ("" if none) and the counts; `change` returns
  // what to write, nullopt to write nothing, or an error to roll back. The store replaces the
  // keyring rows, bumps the revision, sets udmg_meta.keyring_id when the database had none, and
  // appends `archived` to udmg_replaced_keys. With `refuse_while_job_runs`, a job in state
  // "running" makes it kConflict naming the job, before `change` is called.
  using CheckedKeyringChange = std::function<Result<std::optional<KeyringReplacement>>(
      const std::optional<KeyringRecords>& current, const std::string& keyring_id,
      const VersionUsage& usage)>;
  virtual Status UpdateKeyringChecked(const CheckedKeyringChange& change,
                                      bool refuse_while_job_runs) = 0;
  virtual Result<std::vector<ReplacedKeyRecord>> ListReplacedKeys() = 0;  // oldest first
};

// The audit trail (udmg_audit; docs/security.md, "Audit trail"): every keyring change appends an
// entry in its own transaction, under the keyring lock, sealed by the appending process
// (UpdateKeyring, UpdateKeyringChecked), and so do the changes that leave the keyring as it is
// (UpdatePolicy; AddColumn, RemoveColumn, SetColumnBinding and RecordBackup once there is a
// keyring).
//
// Who appends and with which key, as the caller that holds K0 sets it on a connection (read when
// an entry is appended). The store seals an entry with `key` as the root version whose
// fingerprint is `k0_fingerprint` in the keyring the entry's transaction leaves, when that
// version is current before or after the event (a rotate-k0's entry: the version it retires);
// otherwise, or without a signer, the entry is unkeyed (only a refusal may be).
struct AuditSigner {
  std::string node;
  std::string os_user;
  int64_t pid = 0;
  std::string command;         // "udmg-server rotate-master-key"
  std::string k0_fingerprint;  // "" when the process has no usable K0
  SecretBytes key;             // DeriveAuditKey(K0)
};
// What an entry records; the store adds who, when, its seq and its MAC.
struct AuditEvent {
  std::string event;           // "keyring"
  std::string outcome = "ok";
  std::string detail;  // AuditEntry::detail
  uint32_t root_before = 0;
  uint32_t root_after = 0;
  uint32_t master_before = 0;
  uint32_t master_after = 0;
  // A job's state change is kept even when this process cannot seal it (no K0: an operator
  // marking a dead job stopped; or its K0 rotated away while it ran): it is then appended
  // unsealed, its outcome "unsealed: " and why. Every other change is refused instead (kWrongKey).
  bool unsealed_if_key_not_current = false;
};
// The event of a keyring change: the current root and active master versions before and after.
AuditEvent KeyringChangeEvent(const std::optional<KeyringRecords>& before,
                              const KeyringRecords& after);
// The event of a checked keyring change: KeyringChangeEvent under the replacement's own names.
AuditEvent ReplacementEvent(const std::optional<KeyringRecords>& before,
                            const KeyringReplacement& replacement);
// The events of changes that leave the keyring as it is: its current versions, before = after.
// A policy change (event "policy").
AuditEvent PolicyChangeEvent(const KeyringRecords& keyring);
// A column registered, unregistered, bound or unbound (events "column-add", "column-remove",
// "column-bind", "column-unbind"); the detail is the column's name, "table.column".
enum class ColumnChange { kAdd, kRemove, kBind, kUnbind };
AuditEvent ColumnChangeEvent(const KeyringRecords& keyring, ColumnChange change,
                             std::string_view table, std::string_view column);
// A passphrase backup taken (event "backup"); the detail names it by what udmg_backups keeps:
// when it was taken, its root version and fingerprint, and the keyring revision (no key bytes).
AuditEvent BackupEvent(const KeyringRecords& keyring, const BackupRecord& backup);
// A job's state change (`from` nullopt: the job was created): "job-start" (created, or resumed
// from stopped), "job-stop", "job-end" (outcome "ok" when done, "failed"); nullopt when the state
// stays as it was. The detail names the job: "job 7 (reencrypt) to master version 3".
std::optional<AuditEvent> JobStateEvent(const KeyringRecords& keyring, const JobRecord& job,
                                        std::optional<JobState> from, JobState to);
// A refused attempt (event "root-key": this process's K0 is not the current root key;
// "conflict": another change or a job stood in the way), its outcome "refused: " and `reason`.
AuditEvent RefusalEvent(const KeyringRecords& keyring, std::string_view event,
                        std::string_view reason);

class AuditStore {
 public:
  virtual ~AuditStore() = default;

  void SetAuditSigner(AuditSigner signer) { signer_ = std::move(signer); }
  const AuditSigner& audit_signer() const { return signer_; }

  virtual Result<std::vector<AuditEntry>> ListAudit() = 0;  // by seq
  // Appends RefusalEvent(keyring, event, reason) in a transaction of its own, under the keyring
  // lock, as this connection's signer: a refusal is recorded while the refused change rolls back.
  // Nothing when the database has no keyring.
  virtual Status AppendRefusal(std::string_view event, std::string_view reason) = 0;

 private:
  AuditSigner signer_;
};

// A connection to one database, with every storage interface.
class Store : public KeyringStore,
              public ColumnStore,
              public ValueStore,
              public JobStore,
              public RecoveryStore,
              public AuditStore {
 public:
  ~Store() override = default;

  // "sqlite:/abs/path" or "postgresql://user@host:port/db" with any password removed.
  virtual std::string Describe() const = 0;

  // The session's access (see SessionAccess). The default (SQLite): writable.
  virtual SessionAccess Access() const;

  // Creates or upgrades the udmg_ tables by versioned migrations (udmg_schema_migrations).
  // Idempotent: at the latest version it writes nothing.
  virtual Status Migrate() = 0;

  // The primary's WAL position and its streaming replicas; kUsage on a store without replication
  // (SQLite).
  virtual Result<ReplicationState> ReadReplication();

  // A mark that changes whenever another connection, of this process or another, commits to the
  // database: the same mark twice means every change in between was this connection's own. It
  // lets a job that wrote alone derive its final count instead of reading every value again.
  // nullopt where the backend cannot tell (the default; PostgreSQL): the caller counts.
  virtual Result<std::optional<int64_t>> OthersCommitMark();
};

// The newest "running"/"stopped" shared job of `kind` aimed at `target_version`, or a new one over
// `columns` whose stale keys (by `filter`, in key order) are split into ranges of about
// `rows_per_range` rows each. The keys are sampled outside the lock, then the job is created under
// it (JobStore::CreateSharedJob), so that processes starting at once get the same job and none
// waits for another's scan. When a job of the same kind and target was created while this one
// sampled, it samples again (at most three samples; the last split is kept even if stale: it is
// still a partition, only a wasteful one).
Result<int64_t> FindOrCreateSharedJob(JobStore& store, std::string_view kind,
                                      uint32_t target_version,
                                      const std::vector<ColumnRef>& columns,
                                      const StaleFilter& filter, uint64_t rows_per_range);

// kDatabase when the store cannot see every row of one of `columns` (ColumnStore::RowsHiddenFrom):
// a count over them would be incomplete, so no decision may rest on it. `consequence` ends the
// message ("no job was started").
Status RequireEveryRowVisible(ColumnStore& store, const std::vector<ColumnRef>& columns,
                              std::string_view consequence);

// What opening may do to a database that udmg-server has not set up yet.
enum class OpenMode {
  kCreate,    // `init`: a missing SQLite file is created (Migrate then creates the tables)
  kExisting,  // every other command: the database must already hold udmg-server's schema
};

// Opens a connection: "sqlite:PATH" or "postgresql://..." / "postgres://...", as
// db/database_url.h ParseDatabaseUrl reads them. kBadInput for an unknown scheme; kDatabase, one
// line, when it cannot connect. With kExisting, a missing SQLite file or a database without
// udmg_schema_migrations is kNotInitialized, and it is left exactly as it was: nothing is
// created, and SQLite's journal mode is switched to WAL only after the check.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url, OpenMode mode = OpenMode::kCreate);

// The URL to use: --db if given, else UDMG_DATABASE_URL, else "sqlite:udmg.db".
std::string ResolveDatabaseUrl(const std::optional<std::string>& flag);

}  // namespace udmg::db
