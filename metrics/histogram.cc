#include "metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace udmg::metrics {
namespace {

Histogram::BucketBoundaries WithoutTrailingInf(Histogram::BucketBoundaries boundaries) {
  if (!boundaries.empty() && boundaries.back() == std::numeric_limits<double>::infinity()) {
    boundaries.pop_back();
  }
  return boundaries;
}

}  // namespace

Histogram::Histogram(const BucketBoundaries& boundaries)
    : boundaries_(WithoutTrailingInf(boundaries)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(boundaries_.size() + 1)) {}

void Histogram::Observe(double value) {
  const auto bucket = std::lower_bound(boundaries_.begin(), boundaries_.end(), value);
  counts_[bucket - boundaries_.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

ClientMetric Histogram::Collect() const {
  ClientMetric metric;
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i <= boundaries_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const double bound =
        i < boundaries_.size() ? boundaries_[i] : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back({cumulative, bound});
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = sum_.load(std::memory_order_relaxed);
  return metric;
}

Status Histogram::ValidateArgs(const BucketBoundaries& boundaries) {
  const BucketBoundaries finite = WithoutTrailingInf(boundaries);
  for (size_t i = 0; i < finite.size(); ++i) {
    if (!std::isfinite(finite[i])) {
      return Status(ErrorCode::kInternal,
                    "histogram bucket boundaries must be finite numbers (+Inf only last)");
    }
    if (i > 0 && !(finite[i - 1] < finite[i])) {
      return Status(ErrorCode::kInternal,
                    "histogram bucket boundaries must be strictly increasing");
    }
  }
  return Status::Ok();
}

bool Histogram::MatchesArgs(const BucketBoundaries& boundaries) const {
  return WithoutTrailingInf(boundaries) == boundaries_;
}

const Histogram::BucketBoundaries& BatchDurationBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  return kBuckets;
}

}  // namespace udmg::metrics
