#include "pipeline/throttle.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

namespace udmg::pipeline {
namespace {

// The adaptive size moves by at most this factor per batch, and not at all when the write time is
// within kDeadBand of the target: smooth, and no jitter around the target.
constexpr double kMaxAdaptiveStep = 1.5;
constexpr double kDeadBand = 0.1;
// The token bucket holds at most this much time's worth of rows (the largest burst after idling).
constexpr Duration kBucketTime = std::chrono::seconds(1);
// Any finite rate > 0 is accepted, so rows / rate can exceed what a Duration holds: a batch is
// never charged more than this (about 100 years, far from the int64 nanosecond limit).
constexpr double kMaxChargeSeconds = 100.0 * 365 * 24 * 3600;

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

class SteadyClockImpl final : public Clock {
 public:
  Duration Now() const override {
    return std::chrono::duration_cast<Duration>(
        std::chrono::steady_clock::now().time_since_epoch());
  }
  void SleepFor(Duration duration) override { std::this_thread::sleep_for(duration); }
};

// `what` names the value in the message; `setting` is the option it came from (Error::setting).
Status CheckRate(double rows_per_second, ErrorCode code, std::string_view what,
                 std::string_view setting = {}) {
  if (!std::isfinite(rows_per_second) || rows_per_second < 0) {
    return Status(code,
                  std::string(what) + " must be a number of rows per second >= 0 (0 = unlimited)",
                  std::string(setting));
  }
  return Status::Ok();
}

Status CheckBatchSize(size_t size, ErrorCode code, std::string_view what,
                      std::string_view setting = {}) {
  if (size < 1 || size > kMaxBatchSize) {
    return Status(code, std::string(what) + " must be between 1 and " +
                            std::to_string(kMaxBatchSize) + " rows",
                  std::string(setting));
  }
  return Status::Ok();
}

}  // namespace

Clock& SteadyClock() {
  static SteadyClockImpl clock;
  return clock;
}

std::string_view ThrottleReasonName(ThrottleReason reason) {
  switch (reason) {
    case ThrottleReason::kRate: return "rate";
    case ThrottleReason::kLatency: return "latency";
    case ThrottleReason::kPaused: return "paused";
    case ThrottleReason::kPauseFile: return "pause_file";
    case ThrottleReason::kReplicaLag: return "replica_lag";
  }
  return "unknown";
}

double ThrottleStats::total_throttled_seconds() const {
  double total = 0;
  for (double s : throttled_seconds) total += s;
  return total;
}

Status ValidateThrottleOptions(const ThrottleOptions& o) {
  UDMG_RETURN_IF_ERROR(
      CheckRate(o.rows_per_second, ErrorCode::kUsage, "the rate", "rows_per_second"));
  UDMG_RETURN_IF_ERROR(
      CheckBatchSize(o.batch_size, ErrorCode::kUsage, "the batch size", "batch_size"));
  UDMG_RETURN_IF_ERROR(CheckBatchSize(o.min_batch_size, ErrorCode::kUsage, "the minimum batch size"));
  UDMG_RETURN_IF_ERROR(CheckBatchSize(o.max_batch_size, ErrorCode::kUsage, "the maximum batch size"));
  if (o.min_batch_size > o.max_batch_size) {
    return Status(ErrorCode::kUsage, "the minimum batch size " + std::to_string(o.min_batch_size) +
                                         " is above the maximum " + std::to_string(o.max_batch_size));
  }
  if (o.target_batch_time < Duration::zero()) {
    return Status(ErrorCode::kUsage, "the target batch time must not be negative",
                  "target_batch_time");
  }
  if (o.max_write_latency < Duration::zero()) {
    return Status(ErrorCode::kUsage, "the write latency limit must not be negative",
                  "max_write_latency");
  }
  if (o.critical_write_latency < Duration::zero()) {
    return Status(ErrorCode::kUsage, "the critical write latency must not be negative",
                  "critical_write_latency");
  }
  if (o.latency_cooldown <= Duration::zero()) {
    return Status(ErrorCode::kUsage, "the latency cool-down must be positive");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Throttle>> Throttle::Create(const ThrottleOptions& options, Clock& clock) {
  UDMG_RETURN_IF_ERROR(ValidateThrottleOptions(options));
  return std::unique_ptr<Throttle>(new Throttle(options, clock));
}

Throttle::Throttle(const ThrottleOptions& options, Clock& clock)
    : clock_(clock),
      options_(options),
      rows_per_second_(options.rows_per_second),
      paid_until_(clock.Now()),
      batch_size_(options.target_batch_time > Duration::zero()
                      ? std::clamp(options.batch_size, options.min_batch_size,
                                   options.max_batch_size)
                      : options.batch_size),
      adaptive_(options.target_batch_time > Duration::zero()) {}

Duration Throttle::TimeForRowsLocked(double rows) const {
  const double seconds = std::min(rows / rows_per_second_, kMaxChargeSeconds);
  return Duration(std::llround(seconds * 1e9));
}

size_t Throttle::BatchSizeLocked() const {
  // A rate of at least one batch per second does not bound the batch (and a huge rate would not
  // fit a size_t).
  if (rows_per_second_ <= 0 || rows_per_second_ >= static_cast<double>(batch_size_)) {
    return batch_size_;
  }
  size_t one_second = static_cast<size_t>(std::max(1.0, std::ceil(rows_per_second_)));
  return std::min(batch_size_, one_second);
}

size_t Throttle::BatchSize() const {
  base::MutexLock lock(mutex_);
  return BatchSizeLocked();
}

void Throttle::AddGate(std::unique_ptr<ThrottleGate> gate) {
  base::MutexLock lock(gate_mutex_);
  gates_.push_back(std::move(gate));
}

std::optional<ThrottleReason> Throttle::CheckGates() {
  std::optional<std::string> hold;
  ThrottleReason reason = ThrottleReason::kPaused;
  {
    base::MutexLock gate_lock(gate_mutex_);
    for (const std::unique_ptr<ThrottleGate>& gate : gates_) {
      hold = gate->Hold();
      reason = gate->reason();
      if (hold) break;
    }
  }
  base::MutexLock lock(mutex_);
  hold_ = hold;
  hold_reason_ = reason;
  if (!hold) return std::nullopt;
  return reason;
}

ThrottleDecision Throttle::TryAdmit(size_t rows) {
  {
    base::MutexLock lock(mutex_);
    if (paused_) return {false, ThrottleReason::kPaused, kPollInterval};
  }
  if (std::optional<ThrottleReason> held = CheckGates()) return {false, *held, kPollInterval};
  base::MutexLock lock(mutex_);
  Duration now = clock_.Now();
  if (paused_) return {false, ThrottleReason::kPaused, kPollInterval};
  if (latency_pause_until_) {
    if (now < *latency_pause_until_) {
      return {false, ThrottleReason::kLatency, *latency_pause_until_ - now};
    }
    latency_pause_until_.reset();  // cool-down over: let one batch probe the latency again
  }
  if (rows_per_second_ > 0) {
    // A token bucket kept as a time (GCRA): a batch may start once the batches before it are
    // paid for, then charges all its rows, so the long-run rate is exact whatever the batch
    // size. Idle time earns at most kBucketTime of credit.
    paid_until_ = std::max(paid_until_, now - kBucketTime);
    if (now < paid_until_) return {false, ThrottleReason::kRate, paid_until_ - now};
    paid_until_ += TimeForRowsLocked(static_cast<double>(rows));
  }
  return {true, ThrottleReason::kRate, Duration::zero()};
}

bool Throttle::WaitForAdmission(size_t rows, const std::function<bool()>& stop_requested) {
  while (true) {
    ThrottleDecision decision = TryAdmit(rows);
    if (decision.admitted) return true;
    if (stop_requested && stop_requested()) return false;
    if (Stats().stop_reason) return false;
    Duration before = clock_.Now();
    clock_.SleepFor(std::min(decision.retry_after, kPollInterval));
    Duration waited = clock_.Now() - before;
    base::MutexLock lock(mutex_);
    throttled_[static_cast<size_t>(decision.reason)] += waited;
  }
}

size_t Throttle::AdmitNextBatch(const std::function<bool()>& stop_requested) {
  if (Stats().stop_reason) return 0;
  // Asked here too, not only while waiting: a stop requested before a batch that is admitted at
  // once (no limit reached) must still stop the job at this boundary.
  if (stop_requested && stop_requested()) return 0;
  size_t rows = BatchSize();
  return WaitForAdmission(rows, stop_requested) ? rows : 0;
}

void Throttle::RecordBatchWrite(size_t rows, Duration write_time) {
  base::MutexLock lock(mutex_);
  last_write_time_ = write_time;
  if (options_.critical_write_latency > Duration::zero() &&
      write_time > options_.critical_write_latency && !stop_reason_) {
    char text[160];
    std::snprintf(text, sizeof text,
                  "a batch write took %.2f s, above the critical write latency %.2f s",
                  Seconds(write_time), Seconds(options_.critical_write_latency));
    stop_reason_ = Error{ErrorCode::kIncomplete, text, "critical_write_latency"};
  }
  if (options_.max_write_latency > Duration::zero()) {
    if (write_time > options_.max_write_latency) {
      if (!latency_pause_until_) ++latency_pauses_;
      latency_pause_until_ = clock_.Now() + options_.latency_cooldown;
    } else {
      latency_pause_until_.reset();  // latency is back under the bound
    }
  }
  if (!adaptive_ || rows == 0) return;
  // Scale the observed time to the current size (batches in flight may have older sizes).
  double per_row = Seconds(write_time) / static_cast<double>(rows);
  double predicted = per_row * static_cast<double>(batch_size_);
  double ratio = predicted > 0 ? Seconds(options_.target_batch_time) / predicted : kMaxAdaptiveStep;
  if (std::abs(ratio - 1.0) <= kDeadBand) return;
  double factor = std::clamp(ratio, 1.0 / kMaxAdaptiveStep, kMaxAdaptiveStep);
  double next = std::round(static_cast<double>(batch_size_) * factor);
  batch_size_ = std::clamp(static_cast<size_t>(next), options_.min_batch_size,
                           options_.max_batch_size);
}

void Throttle::Pause() {
  base::MutexLock lock(mutex_);
  paused_ = true;
}

void Throttle::Resume() {
  base::MutexLock lock(mutex_);
  paused_ = false;
}

Result<double> Throttle::SetRowsPerSecond(double rows_per_second) {
  UDMG_RETURN_IF_ERROR(CheckRate(rows_per_second, ErrorCode::kBadInput, "rate"));
  base::MutexLock lock(mutex_);
  double previous = rows_per_second_;
  Duration now = clock_.Now();
  // Rows admitted ahead of the old rate are still owed, at the new rate: re-sending the same
  // rate changes nothing; leaving "unlimited" starts from an empty bucket.
  double owed_rows =
      previous > 0 ? Seconds(std::max(Duration::zero(), paid_until_ - now)) * previous : 0;
  rows_per_second_ = rows_per_second;
  paid_until_ = now;
  if (rows_per_second > 0) paid_until_ += TimeForRowsLocked(owed_rows);
  return previous;
}

Result<size_t> Throttle::SetBatchSize(size_t batch_size) {
  UDMG_RETURN_IF_ERROR(CheckBatchSize(batch_size, ErrorCode::kBadInput, "batch-size"));
  base::MutexLock lock(mutex_);
  size_t previous = batch_size_;
  batch_size_ = batch_size;
  adaptive_ = false;
  return previous;
}

ThrottleStats Throttle::Stats() const {
  base::MutexLock lock(mutex_);
  ThrottleStats stats;
  stats.rows_per_second = rows_per_second_;
  stats.batch_size = BatchSizeLocked();
  stats.adaptive = adaptive_;
  stats.paused = paused_;
  stats.latency_paused = latency_pause_until_ && clock_.Now() < *latency_pause_until_;
  stats.last_write_time = last_write_time_;
  stats.hold = hold_;
  stats.hold_reason = hold_reason_;
  stats.stop_reason = stop_reason_;
  stats.latency_pauses = latency_pauses_;
  for (size_t i = 0; i < kThrottleReasonCount; ++i) stats.throttled_seconds[i] = Seconds(throttled_[i]);
  return stats;
}

}  // namespace udmg::pipeline
