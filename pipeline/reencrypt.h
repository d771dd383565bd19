// The re-encryption job (docs/reencryption.md): moves every stored value of the registered columns
// to the keyring's active master version through a oneTBB flow graph
//
//   tickets ─► limiter (batches in flight) ─► fetch (serial, keyset pagination over stale rows)
//     ─► crypto (parallel, one ValueCipher per thread) ─► sequencer (batch order)
//     ─► commit (serial: compare-and-swap of the batch in one transaction, failures recorded,
//        checkpoint saved) ─► limiter token released
//
// The checkpoint of a column is saved only after every earlier batch is committed (the commit
// stage sees batches in sequence order), so `kill -9` at any instant followed by the same command
// resumes without a gap. A row is never written over unless it still holds the value that was
// read (compare-and-swap); a value that does not decrypt is recorded in udmg_reencrypt_failures
// and skipped. After the scan a final count of stale values per column runs; values written
// meanwhile under an old version start further passes, and the job is done only at zero
// (rows recorded as failures excluded: they can never migrate, they are counted apart).
//
// Thread-safety: RunReencryption may be called from any thread; it blocks until the job stops.
// The hooks are called from the pipeline's worker threads (each hook from one stage only, never
// concurrently with itself) and must be thread-safe with respect to the caller's own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"
#include "pipeline/job_hooks.h"
#include "pipeline/nonce_budget.h"

namespace udmg::pipeline {

inline constexpr std::string_view kReencryptJobKind = "reencrypt";
inline constexpr std::string_view kSweepJobKind = "sweep";

// The time source of the run-time budget; std::chrono::steady_clock::now when empty (tests inject
// a fake one). It is read at the start of the run and once per batch by the fetch stage, never
// concurrently with itself.
using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

// Opens one database connection; each stage of the pipeline opens its own.
using StoreFactory = std::function<Result<std::unique_ptr<db::Store>>(std::string_view url)>;

// Whether to start a new job or continue an interrupted one ("running" after a crash, or
// "stopped"). A job that ended "done" or "failed" (finished with bad rows) is never resumed.
enum class ResumeMode {
  kResumeOrStart,  // continue the newest interrupted job of this kind, else start one
  kResumeOnly,     // continue it, kNotFound if there is none (`reencrypt --resume`)
  kStartNew,       // always a new job (an interrupted one is left as it is)
};

struct ReencryptOptions {
  std::string database_url;                 // "sqlite:PATH" or "postgresql://..."
  StoreFactory open_store;                  // db::OpenStore when empty (tests inject faults)
  std::shared_ptr<const Keyring> keyring;   // required; its active version is the target
  // Seals the job's start, stop and end in the audit trail (AuditSignerFor with this process's
  // K0); without a key they are recorded unsealed.
  db::AuditSigner audit_signer;
  std::string job_kind{kReencryptJobKind};  // "reencrypt" or "sweep"
  ResumeMode resume = ResumeMode::kResumeOrStart;
  std::vector<db::ColumnRef> columns;       // empty: every registered column
  bool include_plaintext = false;           // also encrypt legacy plaintext values
  size_t batch_size = 1000;                 // rows per batch (before_fetch may change it)
  // Stored value text per batch, at most (one value larger than this is a batch of its own), so
  // that large values do not multiply memory by batch_size; 0: rows only. 8 MiB: well past the
  // point where per-batch costs matter for small values (docs/performance.md).
  size_t batch_bytes = size_t{8} << 20;
  size_t batches_in_flight = 4;             // fetched but not yet committed, at most
  size_t crypto_concurrency = 0;            // crypto stage threads; 0: as many as TBB has
  uint64_t max_rows = 0;                    // stop after this many rows fetched; 0: no limit
  std::chrono::steady_clock::duration run_time{};  // stop after this long; 0: no limit
  SteadyNow clock;                          // for run_time only (progress uses steady_clock)
  std::optional<uint64_t> max_failures;     // stop once more than this many rows failed
  uint32_t max_passes = 10;                 // main scan + catch-up passes, at most
  const std::atomic<bool>* stop = nullptr;  // set it (e.g. from a signal) to stop at a boundary
  // When set, kept equal to the batches between fetch and the end of commit (for metrics; the
  // pipeline adds and subtracts, the caller only reads it).
  std::atomic<int64_t>* batches_in_flight_now = nullptr;
  ReencryptHooks hooks;
  WarningSink warn = StderrWarningSink();   // nonce-budget warnings
  // Shared job: several processes share one job by leasing key ranges of its columns
  // (docs/reencryption.md, "Several processes, one job"). Off: one process runs the job as above.
  bool shared = false;
  std::chrono::milliseconds lease{30000};   // a range whose lease ran out is claimed again
  uint64_t rows_per_range = 50000;          // stale rows per range when the job is created
  std::string owner;                        // this process in the ranges; "<host>:<pid>" if empty
};

// Why the run ended.
enum class ReencryptOutcome {
  kDone,             // every value migrated (or recorded as failed, see failed counts)
  kStopped,          // stop flag, before_fetch returned 0, run-time budget or max_rows reached
  kMaxFailures,      // more rows failed than max_failures
  kPassesExhausted,  // stale values keep appearing (a writer with an old keyring): run again
  kError,            // a stage failed (database, internal); `error` says which
};
std::string_view ReencryptOutcomeName(ReencryptOutcome outcome);  // "done", "stopped", ...

// What ended a kStopped run (the first cause the fetch stage met).
enum class StopCause {
  kNone,           // not stopped
  kStopRequested,  // the stop flag, or before_fetch returned 0
  kRunTime,        // the run_time budget was spent
  kMaxRows,        // max_rows rows were fetched
};

struct ColumnReport {
  db::ColumnRef column;
  uint64_t migrated = 0;    // in this run
  uint64_t conflicts = 0;   // in this run
  uint64_t failed = 0;      // in this run (new failures)
  uint64_t remaining = 0;   // stale values left at the last count, failures excluded
  uint64_t unmigratable = 0;  // stale values that are recorded failures, at the last count
  uint64_t unaddressable = 0;  // stale values in rows whose key is NULL, at the last count
  uint32_t passes = 0;
  bool complete = false;    // the last count found remaining == 0
};

struct ReencryptReport {
  int64_t job_id = 0;
  uint32_t target_version = 0;
  bool resumed = false;
  ReencryptOutcome outcome = ReencryptOutcome::kDone;
  StopCause stop_cause = StopCause::kNone;  // set when outcome is kStopped
  std::optional<Error> error;          // set when outcome is kError
  std::vector<ColumnReport> columns;
  uint64_t migrated = 0;               // sums over columns, this run
  uint64_t conflicts = 0;
  uint64_t failed = 0;
  uint64_t remaining = 0;
  uint64_t unmigratable = 0;
  uint64_t unaddressable = 0;
  uint64_t batches = 0;
  size_t peak_batches_in_flight = 0;   // never above options.batches_in_flight
  std::chrono::steady_clock::duration elapsed{};
};

// Why a registered column can no longer be used (CheckColumnStillExists' message: its table or a
// column of it is gone, with the fix), or "" when it can; other errors are returned as they are.
// For the commands that report such a column and go on with the others.
Result<std::string> MissingReason(db::Store& store, const db::ColumnRef& column);

// A registered column's counts, or why it cannot be counted: its table or a column of it is gone
// (MissingReason). Status, metrics and the report say so of such a column.
struct ColumnValues {
  std::optional<db::ValueCounts> counts;
  std::string missing;  // set when counts is nullopt
};
Result<ColumnValues> CountColumnValues(db::Store& store, const db::ColumnRef& column);

// Whether RunReencryption would resume `job` ("running" after a crash, or "stopped"); a job that
// ended "done" or "failed" is final.
bool IsResumableJob(const db::JobRecord& job);

// Runs (or resumes) the job to the keyring's active version and blocks until it stops. Fails
// before starting (kBadInput for bad options, kDatabase, kNotFound for an unknown column, a
// registered column whose table or columns are gone, or no job to resume); once started it
// returns a report, whatever the outcome, or an error that left the job "stopped" (never
// "running"). A report of a run that did not finish counts what is left (`remaining`) anew.
Result<ReencryptReport> RunReencryption(const ReencryptOptions& options);

// The exit status for a report: OK when done with no failures; kCorruptValue when done with
// failures or stopped past max_failures; kIncomplete when stopped or passes exhausted ("run the
// same command again to resume"); the stage error for kError. One line, no key bytes.
Status ReportStatus(const ReencryptReport& report);
// The same, where a stopped run says what stopped it (`why_stopped`, e.g. the throttle's critical
// write latency, with its setting) when known.
Status ReportStatus(const ReencryptReport& report, const std::optional<Error>& why_stopped);
// kCorruptValue naming the columns of `report` with values in rows whose key is NULL.
Status UnaddressableValues(const ReencryptReport& report);
// kCorruptValue for `count` values job `job_id` recorded as failures and left as they are, whatever
// their class (did not decrypt, write refused or altered by the database).
Status UnmigratableValues(uint64_t count, int64_t job_id);

}  // namespace udmg::pipeline
