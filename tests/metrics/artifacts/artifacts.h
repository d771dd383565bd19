// Reading the SRE artifacts (metrics/dashboards/*.json, metrics/alerts.yml, metrics/metric_names.txt,
// docs/operations.md) for tests: the PromQL expressions they hold, the metric names those use, and
// the contract's list of families. Pure text processing, no I/O except ReadSourceFile.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace udmg::testing {

// A file of the source tree (UDMG_SOURCE_DIR/relative) read whole; fails the test and returns ""
// when it cannot be read.
std::string ReadSourceFile(const std::filesystem::path& relative);
std::filesystem::path SourcePath(const std::filesystem::path& relative);

// One line of metrics/metric_names.txt: `<name> <type> <labels|-> <source>`.
struct MetricFamily {
  std::string name;
  std::string type;                 // counter | gauge | histogram
  std::vector<std::string> labels;  // empty for "-"
  std::string source;               // job | keystate | cluster
};

// Parses the list; '#' lines and blank lines are comments. Each malformed line adds one message to
// `errors` (line number and what is wrong) and is skipped.
std::vector<MetricFamily> ParseMetricFamilies(std::string_view text,
                                              std::vector<std::string>* errors);

// The udmg_* metric names an expression uses, in order of appearance, once each. Quoted strings
// (label values such as job="udmg_sweep") are not names and are skipped.
std::vector<std::string> MetricNamesIn(std::string_view promql);

// The names MetricNamesIn finds that are not series of a listed family: a family's own name, or for
// a histogram its _bucket, _sum and _count series.
std::vector<std::string> UnknownMetricNames(std::string_view promql,
                                            const std::vector<MetricFamily>& families);

// Grafana template variables replaced by plausible values ($instance, ${job}, $__rate_interval,
// $__interval, $__range, ...), as Grafana would before sending the query. An unknown variable is
// left as it is, so the query fails to parse.
std::string SubstituteGrafanaVariables(std::string_view expr);

// A PromQL expression of the dashboard and where it comes from (panel title, refId).
struct DashboardQuery {
  std::string where;
  std::string expr;
};
// Every target expr of every panel (rows' nested panels included), and the series selector X of
// each query variable written label_values(X, label).
std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard);

// Every panel that shows data (rows excluded), nested ones included.
std::vector<nlohmann::json> DataPanels(const nlohmann::json& dashboard);

// The `expr:` values of a Prometheus rules file: inline scalars (quotes removed) and block
// scalars (`|` / `>` followed by more-indented lines, joined with newlines / spaces).
std::vector<std::string> RuleExpressions(std::string_view rules_yaml);

// The anchor GitHub makes of a Markdown heading: lower case, punctuation dropped, spaces to '-'.
std::string MarkdownAnchor(std::string_view heading);
// Every heading anchor of a Markdown document.
std::set<std::string> MarkdownAnchors(std::string_view markdown);

}  // namespace udmg::testing
