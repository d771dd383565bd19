// What a counter and a gauge share: one double read and written atomically (no lock), reported in
// the ClientMetric member of their type, and no construction arguments.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

// `Slot` is the member of ClientMetric that carries the value: ClientMetric::counter or ::gauge.
template <MetricType Type, auto ClientMetric::*Slot>
class SingleValueMetric {
 public:
  static constexpr MetricType kType = Type;

  SingleValueMetric(const SingleValueMetric&) = delete;
  SingleValueMetric& operator=(const SingleValueMetric&) = delete;

  double Value() const { return value_.load(std::memory_order_relaxed); }

  ClientMetric Collect() const {
    ClientMetric metric;
    (metric.*Slot).value = Value();
    return metric;
  }

  // Family<T> hooks: the metric takes no construction arguments.
  static Status ValidateArgs() { return Status::Ok(); }
  bool MatchesArgs() const { return true; }

 protected:
  SingleValueMetric() = default;

  std::atomic<double> value_{0};
};

}  // namespace udmg::metrics
