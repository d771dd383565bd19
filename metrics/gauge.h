// A value that goes up and down (prometheus-cpp gauge.h shape).
// Thread-safety: every method may be called from any thread; each is one atomic operation.
#pragma once

#include <chrono>

#include "metrics/metric_family.h"
#include "metrics/single_value_metric.h"

namespace udmg::metrics {

class Gauge : public SingleValueMetric<MetricType::kGauge, &ClientMetric::gauge> {
 public:
  void Increment(double value = 1.0) { value_.fetch_add(value, std::memory_order_relaxed); }
  void Decrement(double value = 1.0) { value_.fetch_sub(value, std::memory_order_relaxed); }
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  // Unix time in seconds (with fractions), for *_timestamp_seconds gauges.
  void SetToCurrentTime() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    Set(std::chrono::duration<double>(since_epoch).count());
  }
};

}  // namespace udmg::metrics
