// Throttle for the re-encryption pipeline (docs/reencryption.md), after gh-ost and
// pt-online-schema-change: a rows-per-second limit (token bucket), a batch size that adapts toward a
// target write time, a pause while write latency is above a bound, a manual pause, gates that hold
// batches back while an outside condition lasts (a pause file, a lagging replica), and a stop
// when a write is slower than a critical bound. Every setting can change while the job runs
// (control channel). Seconds spent throttled are recorded by reason for the metrics.
//
// Time comes from an injected Clock, so tests drive it by hand and never sleep.
//
// Thread-safety: every Throttle method may be called from any thread. The pipeline calls it once
// per batch (never per row); one short mutex section per call.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"

namespace udmg::pipeline {

using Duration = std::chrono::nanoseconds;

// A monotonic clock and a way to wait on it.
// Thread-safety: implementations must allow concurrent calls.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Duration Now() const = 0;           // since an arbitrary epoch, never goes back
  virtual void SleepFor(Duration duration) = 0;
};

// std::chrono::steady_clock and std::this_thread::sleep_for.
Clock& SteadyClock();

// A clock that moves only when told: SleepFor advances it by the duration at once.
class ManualClock final : public Clock {
 public:
  Duration Now() const override { return Duration(now_ns_.load()); }
  void SleepFor(Duration duration) override { Advance(duration); }
  void Advance(Duration duration) { now_ns_.fetch_add(duration.count()); }

 private:
  std::atomic<Duration::rep> now_ns_{0};
};

enum class ThrottleReason { kRate = 0, kLatency = 1, kPaused = 2, kPauseFile = 3, kReplicaLag = 4 };
inline constexpr size_t kThrottleReasonCount = 5;
// "rate", "latency", "paused", "pause_file", "replica_lag"
std::string_view ThrottleReasonName(ThrottleReason reason);

// Largest batch an operator may ask for (memory is batch size × batches in flight).
inline constexpr size_t kMaxBatchSize = 1'000'000;

struct ThrottleOptions {
  double rows_per_second = 0;  // 0 = unlimited
  size_t batch_size = 1000;    // the starting size
  // Bounds of the adaptive sizing (an operator's explicit batch size is not bounded by them).
  size_t min_batch_size = 50;
  size_t max_batch_size = 20000;
  Duration target_batch_time{0};  // 0: the batch size stays as set
  Duration max_write_latency{0};  // 0: never pause for latency
  // After a write slower than max_write_latency no batch starts until a write in flight comes
  // back under the bound or this much time has passed (then one batch probes again).
  Duration latency_cooldown = std::chrono::seconds(5);
  // A write slower than this stops the job at the next batch boundary (0: never).
  Duration critical_write_latency{0};
};

// A condition outside the job that holds every batch back while it lasts (a pause file, a
// lagging replica). The throttle asks before each batch and at each poll of a wait.
// Thread-safety: the throttle calls Hold from one thread at a time.
class ThrottleGate {
 public:
  virtual ~ThrottleGate() = default;
  virtual ThrottleReason reason() const = 0;
  // nullopt when batches may start; otherwise why not, in a few words for the progress line
  // ("pause file /run/udmg.pause exists"). A condition that cannot be checked holds.
  virtual std::optional<std::string> Hold() = 0;
};

// kUsage, one line naming the bad option, for a negative or non-finite rate, a zero or oversized
// batch size, min > max, or a negative duration.
Status ValidateThrottleOptions(const ThrottleOptions& options);

// What TryAdmit decided. When not admitted, `reason` says why and `retry_after` how long to wait
// before asking again (the whole remaining delay for rate and latency; a poll interval for a
// manual pause or a gate, which have no end time).
struct ThrottleDecision {
  bool admitted = false;
  ThrottleReason reason = ThrottleReason::kRate;
  Duration retry_after{0};
};

struct ThrottleStats {
  double rows_per_second = 0;  // the limit; 0 = unlimited
  size_t batch_size = 0;       // what BatchSize() returns now
  bool adaptive = false;       // the batch size follows target_batch_time
  bool paused = false;         // manual pause
  bool latency_paused = false;
  // The gate holding batches back at the last admission, and why (nullopt: none).
  std::optional<std::string> hold;
  ThrottleReason hold_reason = ThrottleReason::kPaused;
  // Set once a write was slower than critical_write_latency: why the job stops (kIncomplete, the
  // setting critical_write_latency).
  std::optional<Error> stop_reason;
  Duration last_write_time{0};
  uint64_t latency_pauses = 0;  // times a slow write started a pause
  std::array<double, kThrottleReasonCount> throttled_seconds{};  // by ThrottleReason
  double total_throttled_seconds() const;
};

class Throttle {
 public:
  // kUsage when the options are invalid (ValidateThrottleOptions). `clock` must outlive it.
  static Result<std::unique_ptr<Throttle>> Create(const ThrottleOptions& options, Clock& clock);

  // Adds a gate; call before the first batch is admitted.
  void AddGate(std::unique_ptr<ThrottleGate> gate);

  // Rows to fetch for the next batch: the current (adaptive or operator-set) size, and, under a
  // rate limit, no more than one second's worth of rows so that the flow stays smooth.
  size_t BatchSize() const;

  // Decides at once whether a batch of `rows` may start now; when admitted, its rows are taken
  // from the token bucket. Waiting time is not recorded here (see WaitForAdmission).
  ThrottleDecision TryAdmit(size_t rows);

  // Waits on the clock until a batch of `rows` may start (true), or until `stop_requested` returns
  // true or a critical write latency was seen (false). Waits in steps of at most kPollInterval so that stop requests, a resume and new
  // settings take effect promptly. Time waited is added to throttled_seconds by reason.
  static constexpr Duration kPollInterval = std::chrono::milliseconds(100);
  bool WaitForAdmission(size_t rows, const std::function<bool()>& stop_requested);

  // The before-fetch step of the pipeline (ReencryptHooks::before_fetch): waits for admission of
  // the next batch and returns its size, or 0 when `stop_requested` is true before it is admitted
  // (also when nothing makes it wait).
  size_t AdmitNextBatch(const std::function<bool()>& stop_requested);

  // Reports that a batch of `rows` took `write_time` to write back (the compare-and-swap
  // transaction). Drives the adaptive batch size, the latency pause and the critical stop.
  void RecordBatchWrite(size_t rows, Duration write_time);

  // Manual pause: no batch starts until Resume. Batches already admitted finish.
  void Pause();
  void Resume();

  // Live settings. kBadInput, one line, for a negative or non-finite rate or a batch size outside
  // 1..kMaxBatchSize. An explicit batch size switches adaptive sizing off (the operator's value
  // wins). Both return the value in force before the change.
  Result<double> SetRowsPerSecond(double rows_per_second);
  Result<size_t> SetBatchSize(size_t batch_size);

  ThrottleStats Stats() const;

 private:
  Throttle(const ThrottleOptions& options, Clock& clock);
  Duration TimeForRowsLocked(double rows) const REQUIRES(mutex_);  // at rows_per_second_ > 0
  // The first gate that holds, with its reason (nullopt: none); records it for Stats.
  std::optional<ThrottleReason> CheckGates();
  size_t BatchSizeLocked() const REQUIRES(mutex_);

  Clock& clock_;
  const ThrottleOptions options_;

  mutable base::Mutex mutex_;
  double rows_per_second_ GUARDED_BY(mutex_);
  // The time at which the rows admitted so far are paid for at the rate (in the future: rows
  // admitted ahead; in the past: credit, at most one second's worth).
  Duration paid_until_ GUARDED_BY(mutex_);
  size_t batch_size_ GUARDED_BY(mutex_);
  bool adaptive_ GUARDED_BY(mutex_);
  bool paused_ GUARDED_BY(mutex_) = false;
  std::optional<Duration> latency_pause_until_ GUARDED_BY(mutex_);
  Duration last_write_time_ GUARDED_BY(mutex_) = Duration{0};
  uint64_t latency_pauses_ GUARDED_BY(mutex_) = 0;
  std::array<Duration, kThrottleReasonCount> throttled_ GUARDED_BY(mutex_) = {};
  std::optional<std::string> hold_ GUARDED_BY(mutex_);
  ThrottleReason hold_reason_ GUARDED_BY(mutex_) = ThrottleReason::kPaused;
  std::optional<Error> stop_reason_ GUARDED_BY(mutex_);

  // Gates are asked outside mutex_ (a gate may query a database), one caller at a time.
  base::Mutex gate_mutex_;
  std::vector<std::unique_ptr<ThrottleGate>> gates_ GUARDED_BY(gate_mutex_);
};

}  // namespace udmg::pipeline
