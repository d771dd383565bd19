// The data model every collectable produces and every output consumes, shaped like
// prometheus-cpp's client_metric.h / metric_family.h / collectable.h so that library can replace
// ours later: a MetricFamily is one `# TYPE` block, a ClientMetric one label set in it.
//
// Thread-safety: plain values; Collectable::Collect must be safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace udmg::metrics {

// Label name -> value. Ordered, so a label set has one spelling and series sort stably.
using Labels = std::map<std::string, std::string>;

enum class MetricType { kCounter, kGauge, kHistogram, kUntyped };

// "counter", "gauge", "histogram", "untyped": the word of a `# TYPE` line.
const char* MetricTypeName(MetricType type);

struct ClientMetric {
  struct Label {
    std::string name;
    std::string value;
    friend bool operator==(const Label&, const Label&) = default;
    friend auto operator<=>(const Label&, const Label&) = default;
  };
  struct Counter {
    double value = 0;
  };
  struct Gauge {
    double value = 0;
  };
  struct Untyped {
    double value = 0;
  };
  struct Bucket {
    std::uint64_t cumulative_count = 0;  // observations <= upper_bound
    double upper_bound = 0;              // the last bucket is +Inf
  };
  struct Histogram {
    std::uint64_t sample_count = 0;  // equals the +Inf bucket's cumulative_count
    double sample_sum = 0;
    std::vector<Bucket> bucket;
  };

  std::vector<Label> label;  // constant labels and the series' own, sorted by name
  Counter counter;           // the member matching the family's type is the one that counts
  Gauge gauge;
  Untyped untyped;
  Histogram histogram;
};

struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kUntyped;
  std::vector<ClientMetric> metric;
};

// Anything that can be scraped: a Registry, a Family, or a custom view over other state.
class Collectable {
 public:
  virtual ~Collectable() = default;
  virtual std::vector<MetricFamily> Collect() const = 0;
};

}  // namespace udmg::metrics
