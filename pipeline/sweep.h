// The gradual sweep (docs/operator-guide.md): migrates stale values of every registered column to the active
// master version, in bounded runs for cron. It is the re-encryption pipeline (pipeline/reencrypt.h)
// run as a job of kind "sweep": keyset pagination over stale rows, parallel decrypt/encrypt,
// batched compare-and-swap (a concurrent writer is never overwritten), checkpoints. A sweep stopped
// by its bounds is resumed from its checkpoint by the next sweep. A value that does not decrypt is
// recorded in udmg_reencrypt_failures, reported and left byte-identical.
//
// Thread-safety: blocks the calling thread; the client is used from the pipeline's fetch stage
// meanwhile (keyring checks), so the caller must not use it concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/store.h"
#include "pipeline/reencrypt.h"
#include "pipeline/secrets.h"

namespace udmg::pipeline {

using SweepClock = SteadyNow;

struct SweepOptions {
  // The pipeline's own connections (a reader and a writer): open_store when set, else
  // db::OpenStore(database_url). One of the two is required (kBadInput otherwise).
  std::string database_url;
  StoreFactory open_store;
  // Stop once this many stale rows have been examined (migrated + conflicts + failed).
  std::optional<uint64_t> max_rows;
  // Start no new batch after this much time; batches already started finish.
  std::optional<std::chrono::nanoseconds> max_duration;
  // The job runner's run time (--run-time): as max_duration, but the run ends as kRunTime (a job
  // stopped before it was done) instead of a bound reached.
  std::optional<std::chrono::nanoseconds> run_time;
  // Set it (a signal, the stop file) to stop at a batch boundary: the run ends as kStopped.
  const std::atomic<bool>* stop = nullptr;
  size_t batch_size = 1000;
  size_t batches_in_flight = 4;  // memory bound: batch_size × batches_in_flight rows
  // Also encrypt legacy plaintext values (no "udmg:" prefix); left alone otherwise.
  bool include_plaintext = false;
  // How many failures of the job are kept with their key in the report (all are counted).
  size_t max_failure_details = 100;
  // Time source for max_duration; steady_clock when empty (tests inject a fake one).
  SweepClock clock;
  // Observers (metrics, throttle, job runner), all optional: after_commit, on_job_running and
  // on_progress go to the pipeline as they are; before_fetch runs after the sweep's own keyring check and may wait (a throttle)
  // or return 0 to stop at this batch boundary.
  ReencryptHooks hooks;
  std::atomic<int64_t>* batches_in_flight_now = nullptr;  // see ReencryptOptions
};

struct SweepFailure {
  db::ColumnRef column;
  db::RowKey key;
  uint32_t version = 0;     // 0 when the envelope is malformed
  std::string error_class;  // "malformed", "unknown_version", "decryption_failed"
};

struct SweepColumnReport {
  db::ColumnRef column;
  uint64_t migrated = 0;
  uint64_t conflicts = 0;
  uint64_t failed = 0;
  uint64_t remaining = 0;  // stale values left at the end (failed ones included)
};

// kKeyringChanged: another process rotated the master key while the sweep ran; it stopped at a
// batch boundary and the next run migrates to the new active version. kMaxRows, kMaxDuration: a
// bound of the run was reached. kRunTime, kStopped: the run time, or a stop request (the stop flag,
// before_fetch returned 0), ended the sweep before it was done (SweepStatus: incomplete).
enum class SweepStop { kScannedAll, kMaxRows, kMaxDuration, kKeyringChanged, kRunTime, kStopped };
// "completed", "max-rows", "max-duration", "keyring-changed", "run-time", "stopped"
std::string_view SweepStopName(SweepStop stop);

struct SweepReport {
  int64_t job_id = 0;           // the "sweep" job in udmg_jobs; 0 when there was nothing to do
  uint32_t target_version = 0;  // the active version the run migrated to
  uint64_t migrated = 0;        // written back under the active version
  uint64_t conflicts = 0;       // changed by someone else meanwhile: left to them
  uint64_t failed = 0;          // newly recorded failures of any class: reported, not touched
  uint64_t remaining = 0;       // sum of the columns' remaining
  SweepStop stop = SweepStop::kScannedAll;
  std::vector<SweepColumnReport> columns;
  // The first max_failure_details failures recorded by the job (a resumed job's earlier runs too).
  std::vector<SweepFailure> failures;
};

// Invalid options (batch_size 0, no database) → kBadInput. Database errors and a K0 that stopped
// being current (WrongRootKeyError, checked before every batch) end the run with that error;
// batches already committed stay committed, with the job's checkpoint.
Result<SweepReport> Sweep(SecretsClient& client, const SweepOptions& options);

// The exit status of a sweep: OK when it completed or reached a bound; kCorruptValue when values
// were recorded as failures (UnmigratableValues); kIncomplete when the run time or a stop request
// ended it (`why_stopped`, e.g. the throttle's critical write latency, when known): the next sweep
// resumes.
Status SweepStatus(const SweepReport& report, const std::optional<Error>& why_stopped);

}  // namespace udmg::pipeline
