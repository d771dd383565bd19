// Label values and HELP text in the Prometheus exposition (metrics/text_serializer.h). Unescaping
// the output by the text format 0.0.4 rules gives the input back; the escaped text has no raw
// newline, and a label value no unescaped quote. A family with the input as its HELP and as a
// label value serializes to exactly its three lines (HELP, TYPE, one sample).
#include <algorithm>

#include "fuzz/fuzz_check.h"
#include "metrics/text_serializer.h"

using namespace udmg;

namespace {

// Format 0.0.4: in a label value \\, \" and \n are escapes; in HELP \\ and \n. Anything else after
// a backslash, a raw newline, or (in a label value) a bare quote is not valid exposition.
std::optional<std::string> Unescape(std::string_view escaped, bool label_value) {
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i) {
    const char c = escaped[i];
    if (c == '\n' || (label_value && c == '"')) return std::nullopt;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == escaped.size()) return std::nullopt;
    switch (escaped[i]) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case '"':
        if (!label_value) return std::nullopt;
        out += '"';
        break;
      default: return std::nullopt;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> label = Unescape(metrics::EscapeLabelValue(text), true);
  FUZZ_CHECK(label && *label == text, "a label value does not unescape to the input");
  const std::optional<std::string> help = Unescape(metrics::EscapeHelp(text), false);
  FUZZ_CHECK(help && *help == text, "HELP text does not unescape to the input");

  metrics::MetricFamily family{"udmg_fuzz", std::string(text), metrics::MetricType::kGauge, {}};
  family.metric.emplace_back().label.push_back({"value", std::string(text)});
  const std::string exposition = metrics::TextSerializer().Serialize({family});
  FUZZ_CHECK(std::count(exposition.begin(), exposition.end(), '\n') == 3 &&
                 exposition.back() == '\n',
             "one family with one sample is not three lines");
  return 0;
}
