// Observations counted in fixed buckets (prometheus-cpp histogram.h shape).
// Thread-safety: Observe and Collect may be called from any thread; Observe is a binary search
// and two atomic adds, no lock. Collect reads each bucket once and derives the count from them,
// so `_count` always equals the `+Inf` bucket even while other threads observe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;
  using BucketBoundaries = std::vector<double>;

  // `boundaries` must pass ValidateArgs (Family::Add checks it first). A trailing +Inf is
  // dropped: the +Inf bucket is always there.
  explicit Histogram(const BucketBoundaries& boundaries);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose upper bound is >= value (NaN lands in +Inf).
  void Observe(double value);

  // Upper bounds without the implicit +Inf.
  const BucketBoundaries& boundaries() const { return boundaries_; }
  ClientMetric Collect() const;

  // Family<T> hooks: boundaries strictly increasing, no NaN, -Inf, or +Inf except last. kInternal.
  static Status ValidateArgs(const BucketBoundaries& boundaries);
  bool MatchesArgs(const BucketBoundaries& boundaries) const;

 private:
  const BucketBoundaries boundaries_;
  // One non-cumulative count per boundary plus the +Inf bucket.
  const std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// The bucket layout of udmg_reencrypt_batch_duration_seconds (metrics contract).
const Histogram::BucketBoundaries& BatchDurationBuckets();

}  // namespace udmg::metrics
