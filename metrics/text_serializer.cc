#include "metrics/text_serializer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <sstream>

namespace udmg::metrics {
namespace {

constexpr double kTwoTo53 = 9007199254740992.0;

// Backslash and newline are escaped in both HELP text and label values; a double quote only in a
// label value, where it would end the value.
std::string EscapeText(std::string_view text, bool escape_double_quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"' && escape_double_quote) {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void WriteLabels(std::ostream& out, const std::vector<ClientMetric::Label>& labels,
                 const char* extra_name = nullptr, const std::string& extra_value = {}) {
  if (labels.empty() && extra_name == nullptr) return;
  out << '{';
  const char* separator = "";
  for (const auto& label : labels) {
    out << separator << label.name << "=\"" << EscapeLabelValue(label.value) << '"';
    separator = ",";
  }
  if (extra_name != nullptr) {
    out << separator << extra_name << "=\"" << EscapeLabelValue(extra_value) << '"';
  }
  out << '}';
}

void WriteSample(std::ostream& out, const std::string& name, std::string_view suffix,
                 const ClientMetric& metric, double value, const char* extra_name = nullptr,
                 const std::string& extra_value = {}) {
  out << name << suffix;
  WriteLabels(out, metric.label, extra_name, extra_value);
  out << ' ' << FormatNumber(value) << '\n';
}

void WriteFamily(std::ostream& out, const MetricFamily& family) {
  out << "# HELP " << family.name << ' ' << EscapeHelp(family.help) << '\n';
  out << "# TYPE " << family.name << ' ' << MetricTypeName(family.type) << '\n';
  for (const ClientMetric& metric : family.metric) {
    switch (family.type) {
      case MetricType::kCounter:
        WriteSample(out, family.name, "", metric, metric.counter.value);
        break;
      case MetricType::kGauge:
        WriteSample(out, family.name, "", metric, metric.gauge.value);
        break;
      case MetricType::kUntyped:
        WriteSample(out, family.name, "", metric, metric.untyped.value);
        break;
      case MetricType::kHistogram: {
        const auto& histogram = metric.histogram;
        std::uint64_t last_count = 0;
        bool has_inf = false;
        for (const auto& bucket : histogram.bucket) {
          has_inf = std::isinf(bucket.upper_bound) && bucket.upper_bound > 0;
          last_count = bucket.cumulative_count;
          WriteSample(out, family.name, "_bucket", metric,
                      static_cast<double>(bucket.cumulative_count), "le",
                      FormatNumber(bucket.upper_bound));
        }
        // A hand-built histogram without +Inf still gets one: Prometheus requires it.
        if (!has_inf) {
          WriteSample(out, family.name, "_bucket", metric,
                      static_cast<double>(std::max(last_count, histogram.sample_count)), "le",
                      "+Inf");
        }
        WriteSample(out, family.name, "_sum", metric, histogram.sample_sum);
        WriteSample(out, family.name, "_count", metric,
                    static_cast<double>(histogram.sample_count));
        break;
      }
    }
  }
}

}  // namespace

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) < kTwoTo53) {
    result = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest round trip
  }
  return std::string(buffer, result.ptr);
}

std::string EscapeHelp(std::string_view help) { return EscapeText(help, false); }

std::string EscapeLabelValue(std::string_view value) { return EscapeText(value, true); }

std::vector<MetricFamily> MergeFamilies(std::vector<MetricFamily> families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const MetricFamily& a, const MetricFamily& b) { return a.name < b.name; });
  std::vector<MetricFamily> merged;
  for (MetricFamily& family : families) {
    if (!merged.empty() && merged.back().name == family.name) {
      if (merged.back().type != family.type) continue;  // would be a second TYPE line
      auto& into = merged.back().metric;
      into.insert(into.end(), std::make_move_iterator(family.metric.begin()),
                  std::make_move_iterator(family.metric.end()));
      continue;
    }
    merged.push_back(std::move(family));
  }
  for (MetricFamily& family : merged) {
    std::stable_sort(
        family.metric.begin(), family.metric.end(),
        [](const ClientMetric& a, const ClientMetric& b) { return a.label < b.label; });
  }
  return merged;
}

void TextSerializer::Serialize(std::ostream& out, const std::vector<MetricFamily>& families) const {
  for (const MetricFamily& family : MergeFamilies(families)) {
    if (family.metric.empty()) continue;
    WriteFamily(out, family);
  }
}

std::string TextSerializer::Serialize(const std::vector<MetricFamily>& families) const {
  std::ostringstream out;
  Serialize(out, families);
  return out.str();
}

}  // namespace udmg::metrics
