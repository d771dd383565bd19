// Prometheus text exposition format 0.0.4 (prometheus-cpp text_serializer.h shape).
//
// Output: families sorted by name (families of the same name and type from several collectables
// merged into one block; a later family reusing a name with another type is dropped so the
// exposition stays valid), families without series left out, series sorted by label set;
// `# HELP` (\ and newline escaped) and `# TYPE` lines; label values with \, " and newline
// escaped; histograms as cumulative `_bucket{le=".."}` lines ending with `+Inf`, then `_sum` and
// `_count`. No timestamps (the node_exporter textfile collector refuses them).
//
// Thread-safety: stateless; the functions may be called from any thread.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metric_family.h"

namespace udmg::metrics {

// The Content-Type of the exposition over HTTP.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class TextSerializer {
 public:
  std::string Serialize(const std::vector<MetricFamily>& families) const;
  void Serialize(std::ostream& out, const std::vector<MetricFamily>& families) const;
};

// A sample value as Prometheus parses it: "NaN", "+Inf", "-Inf"; an integer below 2^53 in
// magnitude without exponent or fraction ("42", "-0" as "0"); otherwise the shortest text that
// reads back to the same double ("0.1", "2.5e-07", "1e+300").
std::string FormatNumber(double value);

// `\` -> `\\`, newline -> `\n` (HELP text).
std::string EscapeHelp(std::string_view help);
// `\` -> `\\`, `"` -> `\"`, newline -> `\n` (label values).
std::string EscapeLabelValue(std::string_view value);

// Families sorted by name, same-name same-type families merged, series sorted by labels.
std::vector<MetricFamily> MergeFamilies(std::vector<MetricFamily> families);

}  // namespace udmg::metrics
