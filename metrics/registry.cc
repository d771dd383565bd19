#include "metrics/registry.h"

namespace udmg::metrics {

std::vector<MetricFamily> Registry::Collect() const {
  std::vector<MetricFamily> result;
  base::MutexLock lock(mutex_);
  result.reserve(families_.size());
  for (const auto& [name, entry] : families_) {
    for (MetricFamily& family : entry.family->Collect()) result.push_back(std::move(family));
  }
  return result;
}

Status Registry::CheckSameFamily(const Entry& entry, const std::string& name, MetricType type,
                                 const std::string& help, const Labels& constant_labels) {
  if (entry.type != type) {
    return Status(ErrorCode::kInternal, "metric " + name + " is already registered as a " +
                                            MetricTypeName(entry.type) + ", not a " +
                                            MetricTypeName(type) + ": use one type");
  }
  if (entry.help != help) {
    return Status(ErrorCode::kInternal,
                  "metric " + name + " is already registered with another help text: use one");
  }
  if (entry.constant_labels != constant_labels) {
    return Status(ErrorCode::kInternal, "metric " + name +
                                            " is already registered with other constant labels: "
                                            "use per-series labels instead");
  }
  return Status::Ok();
}

}  // namespace udmg::metrics
