// Validation of metric and label names (Prometheus data model), so a bad name fails at
// registration with a one-line Status instead of producing an exposition scrapers reject.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

// [a-zA-Z_:][a-zA-Z0-9_:]*. kInternal (a name is fixed in code: a bad one is a bug).
Status ValidateMetricName(std::string_view name);

// [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved for Prometheus). kInternal.
Status ValidateLabelName(std::string_view name);

// Every name in `labels` valid, none equal to `reserved` (e.g. "le" for histograms) when given.
Status ValidateLabelNames(const Labels& labels, std::string_view reserved = {});

}  // namespace udmg::metrics
