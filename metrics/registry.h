// The set of families a process exposes (prometheus-cpp registry.h shape), plus the builders
// BuildCounter()/BuildGauge()/BuildHistogram() that register into it:
//
//   auto family = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows handled.")
//                     .Register(*registry);          // Result<Family<Counter>*>
//   Counter& migrated = (*family)->Add({{"job", "reencrypt"}, {"result", "migrated"}});
//   migrated.Increment();
//
// Registering a name again with the same type, help and constant labels returns the same family;
// anything else differing is a kInternal error (one line naming the metric).
//
// Thread-safety: every method may be called from any thread. A Family stays valid until Remove
// or the registry's destruction.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "metrics/counter.h"
#include "metrics/family.h"
#include "metrics/gauge.h"
#include "metrics/histogram.h"
#include "metrics/metric_family.h"
#include "metrics/names.h"

namespace udmg::metrics {

class Registry : public Collectable {
 public:
  template <typename T>
  Result<Family<T>*> Add(const std::string& name, const std::string& help,
                         const Labels& constant_labels = {}) {
    base::MutexLock lock(mutex_);
    auto it = families_.find(name);
    if (it != families_.end()) {
      UDMG_RETURN_IF_ERROR(CheckSameFamily(it->second, name, T::kType, help, constant_labels));
      return static_cast<Family<T>*>(it->second.family.get());
    }
    UDMG_RETURN_IF_ERROR(ValidateMetricName(name));
    UDMG_RETURN_IF_ERROR(ValidateLabelNames(
        constant_labels, T::kType == MetricType::kHistogram ? "le" : ""));
    auto family = std::make_unique<Family<T>>(name, help, constant_labels);
    Family<T>* result = family.get();
    families_.emplace(name, Entry{T::kType, help, constant_labels, std::move(family)});
    return result;
  }

  // Drops `family` (references into it become invalid). False when it is not registered here.
  template <typename T>
  bool Remove(const Family<T>& family) {
    base::MutexLock lock(mutex_);
    auto it = families_.find(family.GetName());
    if (it == families_.end() || it->second.family.get() != &family) return false;
    families_.erase(it);
    return true;
  }

  // Every family, sorted by name.
  std::vector<MetricFamily> Collect() const override;

 private:
  struct Entry {
    MetricType type;
    std::string help;
    Labels constant_labels;
    std::unique_ptr<Collectable> family;
  };
  static Status CheckSameFamily(const Entry& entry, const std::string& name, MetricType type,
                                const std::string& help, const Labels& constant_labels);

  mutable base::Mutex mutex_;
  std::map<std::string, Entry> families_ GUARDED_BY(mutex_);  // by name, so Collect is sorted
};

namespace detail {

template <typename T>
class Builder {
 public:
  Builder& Name(const std::string& name) { name_ = name; return *this; }
  Builder& Help(const std::string& help) { help_ = help; return *this; }
  // Constant labels, attached to every series of the family.
  Builder& Labels(const metrics::Labels& labels) { labels_ = labels; return *this; }
  Result<Family<T>*> Register(Registry& registry) const {
    return registry.Add<T>(name_, help_, labels_);
  }

 private:
  std::string name_;
  std::string help_;
  metrics::Labels labels_;
};

}  // namespace detail

inline detail::Builder<Counter> BuildCounter() { return {}; }
inline detail::Builder<Gauge> BuildGauge() { return {}; }
inline detail::Builder<Histogram> BuildHistogram() { return {}; }

}  // namespace udmg::metrics
