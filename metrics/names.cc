#include "metrics/names.h"

#include <string>

namespace udmg::metrics {
namespace {

bool IsLetterOrUnderscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kUntyped: return "untyped";
  }
  return "untyped";
}

Status ValidateMetricName(std::string_view name) {
  bool valid = !name.empty() && (IsLetterOrUnderscore(name[0]) || name[0] == ':');
  for (size_t i = 1; valid && i < name.size(); ++i) {
    valid = IsLetterOrUnderscore(name[i]) || IsDigit(name[i]) || name[i] == ':';
  }
  if (valid) return Status::Ok();
  return Status(ErrorCode::kInternal, "invalid metric name \"" + std::string(name) +
                                          "\": use [a-zA-Z_:][a-zA-Z0-9_:]*");
}

Status ValidateLabelName(std::string_view name) {
  bool valid = !name.empty() && IsLetterOrUnderscore(name[0]);
  for (size_t i = 1; valid && i < name.size(); ++i) {
    valid = IsLetterOrUnderscore(name[i]) || IsDigit(name[i]);
  }
  if (!valid) {
    return Status(ErrorCode::kInternal, "invalid label name \"" + std::string(name) +
                                            "\": use [a-zA-Z_][a-zA-Z0-9_]*");
  }
  if (name.starts_with("__")) {
    return Status(ErrorCode::kInternal, "invalid label name \"" + std::string(name) +
                                            "\": names starting with __ are reserved");
  }
  return Status::Ok();
}

Status ValidateLabelNames(const Labels& labels, std::string_view reserved) {
  for (const auto& [name, value] : labels) {
    UDMG_RETURN_IF_ERROR(ValidateLabelName(name));
    if (!reserved.empty() && name == reserved) {
      return Status(ErrorCode::kInternal, "label name \"" + name +
                                              "\" is reserved for this metric type: rename it");
    }
  }
  return Status::Ok();
}

}  // namespace udmg::metrics
