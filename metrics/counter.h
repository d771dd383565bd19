// A monotonically increasing value (prometheus-cpp counter.h shape).
// Thread-safety: every method may be called from any thread; Increment is one atomic add, no lock.
#pragma once

#include "metrics/metric_family.h"
#include "metrics/single_value_metric.h"

namespace udmg::metrics {

class Counter : public SingleValueMetric<MetricType::kCounter, &ClientMetric::counter> {
 public:
  // Adds `value`; a negative or NaN amount is ignored (a counter never goes down).
  void Increment(double value = 1.0) {
    if (!(value >= 0)) return;
    value_.fetch_add(value, std::memory_order_relaxed);
  }
};

}  // namespace udmg::metrics
