// What a running job tells its throttle, progress tracker and metrics, and what they tell it back:
// the hooks a job calls from its stages and the reports they receive. No storage here, so the
// throttle, progress and control (target udmg_control) build without the database layer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace udmg::pipeline {

// What the commit stage reports after each batch it wrote (for adaptive batch size and the
// write-latency pause).
struct BatchCommitted {
  uint64_t sequence = 0;
  size_t rows = 0;                         // rows in the batch (including failures)
  size_t written = 0;                      // rows whose compare-and-swap applied
  std::chrono::steady_clock::duration write_time{};  // the compare-and-swap transaction alone
  std::chrono::steady_clock::duration fetch_time{};  // the read of the batch's rows alone
  std::chrono::steady_clock::duration crypto_time{};  // decrypt + encrypt of the batch
};

// A moment of the job, for progress lines, the control channel's `status` and metrics.
struct ProgressSnapshot {
  int64_t job_id = 0;
  uint32_t pass = 1;             // 1 for the main scan, 2.. for catch-up passes
  uint64_t total = 0;            // stale values counted when this run started (+ later passes)
  uint64_t done = 0;             // migrated + conflicts + failed in this run
  uint64_t migrated = 0;
  uint64_t conflicts = 0;        // compare-and-swap lost: someone wrote the row meanwhile
  uint64_t failed = 0;           // recorded in udmg_reencrypt_failures
  uint64_t batches = 0;          // committed in this run
  std::string column;            // the column being scanned, "credentials.secret"
  std::chrono::steady_clock::duration elapsed{};
};

// True once the run must stop (the stop flag, the run-time budget); may be empty (never).
using StopCheck = std::function<bool()>;

// Flow-control hooks, implemented by pipeline/throttle and pipeline/progress. Every hook is
// optional. A hook that waits must poll `must_stop` and return promptly once it is true.
struct ReencryptHooks {
  // Called by the fetch stage before each read; waits as long as the throttle demands (rate
  // limit, pause) and returns the number of rows to fetch next (adaptive batch size). Returning
  // 0 means "stop at this batch boundary" (as the stop flag). Without it, batch_size is used.
  std::function<size_t(size_t default_batch_size, const StopCheck& must_stop)> before_fetch;
  // Called by the commit stage after each committed batch.
  std::function<void(const BatchCommitted&)> after_commit;
  // Called once the job row is marked running, before anything is counted or read (a count
  // may already wait on a lock), with the job's id.
  std::function<void(int64_t job_id)> on_job_running;
  // Called once with the total before the first batch, by the commit stage after each
  // checkpoint, and once more when the job stops.
  std::function<void(const ProgressSnapshot&)> on_progress;
};

}  // namespace udmg::pipeline
