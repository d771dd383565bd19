// One pass of the re-encryption job over one column, as a oneTBB flow graph (the stages are
// described in pipeline/reencrypt.h). Internal to pipeline/: RunReencryption calls it once per
// column and pass.
//
// Thread-safety: RunColumnPass blocks until the graph is drained. It uses `reader` from the fetch
// stage only and `writer` from the commit stage only; the caller must not touch them meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "db/store.h"
#include "engine/keyring.h"
#include "pipeline/job_state.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {

// Limits shared by every pass of a run (rows, failures, time), and why the run must stop.
struct RunBudget {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  SteadyNow clock;  // the run-time budget's time source (options.clock or steady_clock)
  std::optional<std::chrono::steady_clock::time_point> deadline;  // on `clock`
  uint64_t total = 0;           // stale values counted at the start (+ catch-up passes)
  uint64_t rows_fetched = 0;    // all passes (the fetch stage's count)
  uint64_t migrated = 0;        // the commit stage's counts, all passes
  uint64_t conflicts = 0;
  uint64_t failures = 0;        // new failures recorded
  uint64_t batches = 0;         // committed
  size_t peak_in_flight = 0;    // batches between fetch and the end of commit, all passes
  std::optional<ReencryptOutcome> stop_reason;  // set once the run must stop (not kDone)
  StopCause stop_cause = StopCause::kNone;      // the fetch stage's reason for kStopped
  std::optional<Error> error;                   // with kError
};

struct ColumnPass {
  db::ColumnRef column;
  db::StaleFilter filter;
  int64_t job_id = 0;
  uint32_t pass = 1;
  std::optional<db::RowKey> start_after;  // where the fetch starts
  std::optional<db::RowKey> checkpoint;   // the column's stored checkpoint when the pass starts
  // True for the main scan: each committed batch's last key becomes the checkpoint. False for a
  // catch-up pass (it rescans from the start): the stored checkpoint is kept and only the counts
  // are added, with `scanned` left true.
  bool advance_checkpoint = true;
  // A leased range of a shared job: the scan ends after this key (inclusive), and each committed
  // batch's checkpoint goes to `save_range` (which also renews the lease, and with `done` marks
  // the range done) instead of the column's checkpoint. Called from the commit stage only.
  std::optional<db::RowKey> end_at;
  std::function<Status(const std::optional<db::RowKey>& checkpoint, bool done)> save_range;
};

struct ColumnPassResult {
  uint64_t migrated = 0;
  uint64_t conflicts = 0;
  uint64_t failed = 0;
  uint64_t batches = 0;
  bool scanned = false;  // the fetch reached the end of the stale rows
};

// Runs one pass. `recorded_failures` holds the keys of this column already recorded as failures
// in this job (they are not recorded or counted again; rows whose write was refused are not
// written again) and receives the new ones. Stops early,
// setting budget.stop_reason, for the stop flag, run-time, max_rows, max_failures or a stage
// error; the checkpoint saved is then the last key of the last batch committed in order.
ColumnPassResult RunColumnPass(const ReencryptOptions& options, const ColumnPass& pass,
                               const std::shared_ptr<const Keyring>& keyring, db::Store& reader,
                               db::Store& writer, RecordedFailures& recorded_failures,
                               RunBudget& budget);

}  // namespace udmg::pipeline
