// The metrics of one job run (metrics contract, table "Per job run"; docs/operations.md), for `reencrypt`,
// `rotate-* --reencrypt` and `sweep`. Nothing is done per row:
//  - counters and histograms (rows by column and result, batches, failures, per-stage batch
//    durations) live in a metrics::Registry and move once per committed batch, from the
//    pipeline's after_commit / on_progress hooks (per-column results are the difference between
//    successive ProgressSnapshots, which carry the run's running totals and the column);
//  - the "current value" gauges (rows remaining, progress ratio, batches in flight, rate limit,
//    batch size, seconds throttled by reason, job state, start time, the lock a statement waits
//    on) are computed when scraped,
//    by JobMetrics itself as a Collectable, from the Throttle and the last snapshot.
// Labels: job (the kind), column, result, stage, reason, state. Never a key byte or a value.
//
// Thread-safety: the hook functions may be called from the pipeline's threads (each hook from one
// thread at a time, as pipeline/reencrypt.h guarantees), Collect and SetState from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "metrics/metric_family.h"
#include "metrics/registry.h"
#include "pipeline/lock_wait.h"
#include "pipeline/reencrypt.h"
#include "pipeline/throttle.h"

namespace udmg::pipeline {

// udmg_reencrypt_job_state's `state` label: one series per state, 1 for the current one.
enum class JobRunState { kRunning = 0, kPaused, kDone, kStopped, kFailed };
inline constexpr size_t kJobRunStateCount = 5;
// "running", "paused", "done", "stopped" (resumable: signal, stop file, run time), "failed".
std::string_view JobRunStateName(JobRunState state);

// How a re-encryption run ended, as a job state: done (every value migrated), stopped (run it
// again to resume), failed (values that do not decrypt, max failures, a stage error).
JobRunState FinalRunState(const ReencryptReport& report);

class JobMetrics final : public metrics::Collectable {
 public:
  // Registers the job families on `registry` with the `job` label `job_kind`, and a zero series
  // per column of `columns` ("credentials.secret") and result, so rates start from 0.
  // `throttle` (may be null: rate 0, batch size `batch_size`) must outlive this object.
  // Rows remaining and the progress ratio are left out until the first progress snapshot (the
  // run sends one with its total before its first batch). kInternal when a family clashes with
  // one already in the registry (a bug).
  static Result<std::unique_ptr<JobMetrics>> Create(metrics::Registry& registry,
                                                    std::string job_kind,
                                                    const std::vector<std::string>& columns,
                                                    const Throttle* throttle, size_t batch_size);

  // The pipeline hooks: `hooks` with after_commit and on_progress also feeding these metrics
  // (before_fetch is kept as it is).
  ReencryptHooks Wrap(ReencryptHooks hooks);
  void OnBatchCommitted(const BatchCommitted& batch);
  void OnProgress(const ProgressSnapshot& snapshot);

  // Called with (column, values) each time the run's migrated count grows, from OnProgress (the
  // pipeline's commit stage): what the key state follows during the run. Set before the run.
  using MigratedSink = std::function<void(const std::string& column, uint64_t migrated)>;
  void SetMigratedSink(MigratedSink sink) { on_migrated_ = std::move(sink); }

  // Give it to ReencryptOptions / SweepOptions::batches_in_flight_now.
  std::atomic<int64_t>* batches_in_flight() { return &in_flight_; }

  // Running (the default; read as "paused" while the throttle is paused or the pause file holds
  // it) or a final state.
  void SetState(JobRunState state) { state_.store(state); }
  JobRunState state() const;

  // The board whose lock wait the lock gauges show (may be null: never waiting); it must
  // outlive this object.
  void WatchLockWaits(const LockWaitBoard* board) { lock_waits_.store(board); }

  // The scrape-time gauges and counters (the registry holds the rest).
  std::vector<metrics::MetricFamily> Collect() const override;

 private:
  struct ColumnCounters {
    metrics::Counter* migrated = nullptr;
    metrics::Counter* conflict = nullptr;
    metrics::Counter* failed = nullptr;
    metrics::Counter* failures = nullptr;  // udmg_reencrypt_failures_total
  };
  struct RunTotals {
    uint64_t migrated = 0;
    uint64_t conflicts = 0;
    uint64_t failed = 0;
  };

  JobMetrics(std::string job_kind, const Throttle* throttle, size_t batch_size);
  ColumnCounters& CountersFor(const std::string& column) REQUIRES(mutex_);

  const std::string job_;
  const Throttle* const throttle_;
  const size_t batch_size_;
  const double start_time_;  // Unix seconds

  metrics::Family<metrics::Counter>* rows_ = nullptr;
  metrics::Family<metrics::Counter>* failures_ = nullptr;
  metrics::Counter* batches_ = nullptr;
  metrics::Histogram* fetch_seconds_ = nullptr;
  metrics::Histogram* crypto_seconds_ = nullptr;
  metrics::Histogram* write_seconds_ = nullptr;

  MigratedSink on_migrated_;

  base::Mutex mutex_;
  std::map<std::string, ColumnCounters> columns_ GUARDED_BY(mutex_);
  RunTotals seen_ GUARDED_BY(mutex_);  // the last snapshot's
  std::string last_column_ GUARDED_BY(mutex_);

  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> progress_known_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<JobRunState> state_{JobRunState::kRunning};
  std::atomic<const LockWaitBoard*> lock_waits_{nullptr};
};

}  // namespace udmg::pipeline
