// One metric family: a name, a help text, constant labels, and one series per label set
// (prometheus-cpp family.h shape).
//
// Thread-safety: every method may be called from any thread. Add/TryAdd/Remove/Has/Collect take
// the family's mutex (only when a label set is looked up or the family is scraped); the T
// returned stays at the same address until Remove or the family's destruction, so callers keep
// the reference and update it lock-free on the hot path.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "metrics/metric_family.h"
#include "metrics/names.h"

namespace udmg::metrics {

template <typename T>
class Family : public Collectable {
 public:
  // Registry::Add validates name and constant labels before constructing a family.
  Family(std::string name, std::string help, Labels constant_labels)
      : name_(std::move(name)), help_(std::move(help)),
        constant_labels_(std::move(constant_labels)) {}

  // The series for `labels`, created at first use with `args` (histograms: the bucket
  // boundaries). kInternal for an invalid label name, a label that repeats a constant label, or
  // arguments differing from those the existing series was created with.
  template <typename... Args>
  Result<T*> TryAdd(const Labels& labels, const Args&... args) {
    UDMG_RETURN_IF_ERROR(
        ValidateLabelNames(labels, T::kType == MetricType::kHistogram ? "le" : ""));
    for (const auto& [label_name, value] : labels) {
      if (constant_labels_.count(label_name) != 0) {
        return Error{ErrorCode::kInternal, "label \"" + label_name + "\" of " + name_ +
                                               " is already a constant label: drop one"};
      }
    }
    UDMG_RETURN_IF_ERROR(T::ValidateArgs(args...));
    base::MutexLock lock(mutex_);
    auto it = series_.find(labels);
    if (it != series_.end()) {
      if (!it->second->MatchesArgs(args...)) {
        return Error{ErrorCode::kInternal,
                     "series of " + name_ + " already exists with other buckets: use the same"};
      }
      return it->second.get();
    }
    auto inserted = series_.emplace(labels, std::make_unique<T>(args...));
    return inserted.first->second.get();
  }

  // As TryAdd, for label sets written in code: an invalid one is a bug, reported on stderr
  // before the process aborts.
  template <typename... Args>
  T& Add(const Labels& labels, const Args&... args) {
    Result<T*> metric = TryAdd(labels, args...);
    if (!metric.ok()) {
      std::fprintf(stderr, "udmg metrics: %s\n", metric.error().message.c_str());
      std::abort();
    }
    return **metric;
  }

  // Drops the series `metric` (its reference becomes invalid); unknown pointers are ignored.
  void Remove(T* metric) {
    base::MutexLock lock(mutex_);
    for (auto it = series_.begin(); it != series_.end(); ++it) {
      if (it->second.get() == metric) {
        series_.erase(it);
        return;
      }
    }
  }

  bool Has(const Labels& labels) const {
    base::MutexLock lock(mutex_);
    return series_.count(labels) != 0;
  }

  const std::string& GetName() const { return name_; }
  const std::string& GetHelp() const { return help_; }
  const Labels& GetConstantLabels() const { return constant_labels_; }

  // One MetricFamily, series in label-set order, each with constant and own labels by name.
  std::vector<MetricFamily> Collect() const override {
    MetricFamily family{name_, help_, T::kType, {}};
    base::MutexLock lock(mutex_);
    family.metric.reserve(series_.size());
    for (const auto& [labels, series] : series_) {
      ClientMetric metric = series->Collect();
      Labels all = constant_labels_;
      all.insert(labels.begin(), labels.end());
      for (const auto& [label_name, value] : all) metric.label.push_back({label_name, value});
      family.metric.push_back(std::move(metric));
    }
    return {std::move(family)};
  }

 private:
  const std::string name_;
  const std::string help_;
  const Labels constant_labels_;
  mutable base::Mutex mutex_;
  std::map<Labels, std::unique_ptr<T>> series_ GUARDED_BY(mutex_);
};

}  // namespace udmg::metrics
