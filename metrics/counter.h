// A monotonically increasing value (prometheus-cpp counter.h shape).
// Thread-safety: every method may be called from any thread; Increment is one atomic add, no lock.
#pragma once

#include <atomic>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;

  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `value`; a negative or NaN amount is ignored (a counter never goes down).
  void Increment(double value = 1.0) {
    if (!(value >= 0)) return;
    value_.fetch_add(value, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

  ClientMetric Collect() const {
    ClientMetric metric;
    metric.counter.value = Value();
    return metric;
  }

  // Family<T> hooks: a counter takes no construction arguments.
  static Status ValidateArgs() { return Status::Ok(); }
  bool MatchesArgs() const { return true; }

 private:
  std::atomic<double> value_{0};
};

}  // namespace udmg::metrics
