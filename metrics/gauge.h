// A value that goes up and down (prometheus-cpp gauge.h shape).
// Thread-safety: every method may be called from any thread; each is one atomic operation.
#pragma once

#include <atomic>
#include <chrono>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;

  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Increment(double value = 1.0) { value_.fetch_add(value, std::memory_order_relaxed); }
  void Decrement(double value = 1.0) { value_.fetch_sub(value, std::memory_order_relaxed); }
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  // Unix time in seconds (with fractions), for *_timestamp_seconds gauges.
  void SetToCurrentTime() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    Set(std::chrono::duration<double>(since_epoch).count());
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

  ClientMetric Collect() const {
    ClientMetric metric;
    metric.gauge.value = Value();
    return metric;
  }

  // Family<T> hooks: a gauge takes no construction arguments.
  static Status ValidateArgs() { return Status::Ok(); }
  bool MatchesArgs() const { return true; }

 private:
  std::atomic<double> value_{0};
};

}  // namespace udmg::metrics
