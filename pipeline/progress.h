// Progress of a re-encryption job for a person (docs/reencryption.md): on a terminal one live
// line (done/total, rows/s, ETA once 1% is done, time throttled) rewritten in place at most a few
// times a second; otherwise plain lines every few seconds, for logs.
//
// Three parts: ProgressTracker (counters the pipeline bumps once per batch), pure formatting
// functions, and ProgressReporter (the output loop).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/mutex.h"
#include "pipeline/job_hooks.h"
#include "pipeline/lock_wait.h"
#include "pipeline/throttle.h"

namespace udmg::pipeline {

// One reading of the job's progress, as the progress line and `status` show it.
struct ProgressFigures {
  uint64_t done = 0;   // rows handled, including those done before a resume
  uint64_t total = 0;  // rows the job has to handle (0 = not known yet)
  double elapsed_seconds = 0;    // since this run started
  double rows_per_second = 0;    // this run's rows / elapsed (rows done before a resume excluded)
  std::optional<double> eta_seconds;  // once 1% of the total is done and the rate is known
  double throttled_seconds = 0;  // by every reason, this run
  bool paused = false;
  std::optional<std::string> hold;  // why a gate holds batches back ("pause file X exists")
  std::optional<LockWait> lock_wait;  // a statement of the job waits on a lock (PostgreSQL)
};

// Counters for one run. Thread-safety: every method may be called from any thread (atomics).
class ProgressTracker {
 public:
  // `already_done` rows were handled by an earlier run of the same job (resume).
  ProgressTracker(Clock& clock, uint64_t total, uint64_t already_done = 0);

  void SetTotal(uint64_t total);  // e.g. when a further pass finds more stale rows
  void AddDone(uint64_t rows);    // once per written batch
  // Sets both at once, e.g. from the ReencryptHooks::on_progress hook (pipeline/job_hooks.h),
  // whose `done` counts this run's rows and `total` the rows this run has to handle.
  void Update(uint64_t done_this_run, uint64_t total);

  // `throttle` (may be null) adds the throttled time and the pause state.
  ProgressFigures Snapshot(const Throttle* throttle) const;

  // The board whose lock wait the snapshots carry (may be null: none); it must outlive this.
  void WatchLockWaits(const LockWaitBoard* board) { lock_waits_.store(board); }

 private:
  Clock& clock_;
  const Duration started_;
  const uint64_t already_done_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_this_run_{0};
  std::atomic<const LockWaitBoard*> lock_waits_{nullptr};
};

// ---- Pure formatting -------------------------------------------------------------------------
// "1,234,567"
std::string FormatCount(uint64_t n);
// "42s", "3m07s", "2h05m", "3d04h"; negative or non-finite values read "?".
std::string FormatDuration(double seconds);
// The live terminal line, e.g.
// "412,000/1,000,000 rows 41.2% | 52,310 rows/s | ETA 11s | throttled 3.0s"
// ("ETA ?" before 1% is done; "PAUSED" when paused; "paused: <why>" while a gate holds, e.g.
// "paused: pause file /run/udmg.pause exists"; "total ?" when the total is unknown; while a
// statement waits on a lock, "| waiting for a lock held by PostgreSQL backend 4242 (12s)").
std::string FormatProgressLine(const ProgressFigures& snapshot);
// The same facts as one plain log line with a time stamp of the elapsed time, e.g.
// "reencrypt: [1m40s] 412,000/1,000,000 rows (41.2%), 52,310 rows/s, ETA 11s, throttled 3.0s"
// (`job_kind` first: "reencrypt", "sweep").
std::string FormatProgressLogLine(const ProgressFigures& snapshot,
                                  std::string_view job_kind = "reencrypt");

// ---- Output loop -----------------------------------------------------------------------------
struct ProgressReporterOptions {
  bool terminal = false;  // live line rewritten in place; else plain lines
  Duration terminal_interval = std::chrono::milliseconds(250);
  Duration log_interval = std::chrono::seconds(10);
  // When set, plain lines go here instead of `out` (the CLI's JSON log lines).
  std::function<void(std::string_view)> log_line;
  std::string job_kind = "reencrypt";  // the first word of a plain line
};

// Writes progress to `out`. Tick() writes when the interval has passed (deterministic, for
// tests); Start() runs Tick() on its own thread until Stop(), which writes a final line (ending
// the live line with a newline). Thread-safety: Tick/Finish are serialised internally;
// Start/Stop from one controlling thread. The destructor stops the thread.
class ProgressReporter {
 public:
  ProgressReporter(const ProgressTracker& tracker, const Throttle* throttle, std::FILE* out,
                   Clock& clock, ProgressReporterOptions options);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  bool Tick();    // true when it wrote a line
  void Finish();  // writes the final line once
  void Start();
  void Stop();    // joins the thread, then Finish()

 private:
  void WriteLine(const ProgressFigures& snapshot) REQUIRES(write_mutex_);

  const ProgressTracker& tracker_;
  const Throttle* throttle_;
  std::FILE* out_;
  Clock& clock_;
  const ProgressReporterOptions options_;

  base::Mutex write_mutex_;
  std::optional<Duration> last_write_ GUARDED_BY(write_mutex_);
  bool finished_ GUARDED_BY(write_mutex_) = false;
  size_t last_line_width_ GUARDED_BY(write_mutex_) = 0;

  base::Mutex stop_mutex_;
  base::CondVar stop_cv_;
  bool stop_ GUARDED_BY(stop_mutex_) = false;
  std::thread thread_;
};

// The pipeline's hooks wired to a throttle and a tracker (either may be null): before each fetch
// the throttle admits the next batch and picks its size (0 = stop, when `stop` is set while it
// waits); after each commit it learns the write time; each progress snapshot updates `progress`.
// The objects must outlive the run.
ReencryptHooks MakeReencryptHooks(Throttle* throttle, ProgressTracker* progress,
                                  const std::atomic<bool>* stop);

}  // namespace udmg::pipeline
