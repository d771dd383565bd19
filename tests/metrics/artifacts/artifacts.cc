#include "tests/metrics/artifacts/artifacts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <sstream>

#include "tests/e2e/cli_runner.h"

namespace udmg::testing {
namespace {

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::vector<std::string> SplitWords(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

// The expression with every "..." / '...' / `...` literal replaced by "" (escapes honoured).
std::string WithoutStringLiterals(std::string_view promql) {
  std::string out;
  char quote = 0;
  for (size_t i = 0; i < promql.size(); ++i) {
    char c = promql[i];
    if (quote == 0) {
      out.push_back(c);
      if (c == '"' || c == '\'' || c == '`') quote = c;
    } else if (c == '\\' && quote != '`') {
      ++i;  // skip the escaped character
    } else if (c == quote) {
      out.push_back(c);
      quote = 0;
    }
  }
  return out;
}

size_t IndentOf(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

std::string Trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

void CollectPanels(const nlohmann::json& panels, std::vector<nlohmann::json>& out) {
  if (!panels.is_array()) return;
  for (const auto& panel : panels) {
    if (panel.value("type", "") == "row") {
      CollectPanels(panel.value("panels", nlohmann::json::array()), out);
    } else {
      out.push_back(panel);
    }
  }
}

}  // namespace

std::filesystem::path SourcePath(const std::filesystem::path& relative) {
  return std::filesystem::path(UDMG_SOURCE_DIR) / relative;
}

std::string ReadSourceFile(const std::filesystem::path& relative) {
  std::filesystem::path path = SourcePath(relative);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    ADD_FAILURE() << path << " is missing: it is one of the SRE artifacts (metrics/README.md)";
    return {};
  }
  return ReadFile(path);
}

std::vector<MetricFamily> ParseMetricFamilies(std::string_view text,
                                              std::vector<std::string>* errors) {
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram"};
  static const std::set<std::string> kSources = {"job", "keystate", "cluster"};
  std::vector<MetricFamily> families;
  std::istringstream in{std::string(text)};
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    std::vector<std::string> words = SplitWords(trimmed);
    std::string where = "line " + std::to_string(number) + " '" + trimmed + "': ";
    if (words.size() != 4) {
      errors->push_back(where + "expected 4 fields: name type labels source");
      continue;
    }
    MetricFamily family{words[0], words[1], {}, words[3]};
    if (words[2] != "-") family.labels = SplitCommas(words[2]);
    if (!std::regex_match(family.name, std::regex("udmg_[a-z0-9_]+"))) {
      errors->push_back(where + "a name is udmg_ followed by [a-z0-9_]");
    } else if (!kTypes.count(family.type)) {
      errors->push_back(where + "the type is counter, gauge or histogram");
    } else if (!kSources.count(family.source)) {
      errors->push_back(where + "the source is job, keystate or cluster");
    } else {
      families.push_back(std::move(family));
    }
  }
  return families;
}

std::vector<std::string> MetricNamesIn(std::string_view promql) {
  std::string code = WithoutStringLiterals(promql);
  std::vector<std::string> names;
  for (size_t i = code.find("udmg_"); i != std::string::npos; i = code.find("udmg_", i)) {
    if (i > 0 && IsNameChar(code[i - 1])) {  // inside another identifier
      i += 5;
      continue;
    }
    size_t end = i;
    while (end < code.size() && IsNameChar(code[end])) ++end;
    std::string name = code.substr(i, end - i);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    i = end;
  }
  return names;
}

std::vector<std::string> UnknownMetricNames(std::string_view promql,
                                            const std::vector<MetricFamily>& families) {
  std::set<std::string> series;
  for (const MetricFamily& family : families) {
    series.insert(family.name);
    if (family.type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) series.insert(family.name + suffix);
    }
  }
  std::vector<std::string> unknown;
  for (const std::string& name : MetricNamesIn(promql)) {
    if (!series.count(name)) unknown.push_back(name);
  }
  return unknown;
}

std::string SubstituteGrafanaVariables(std::string_view expr) {
  static const std::map<std::string, std::string> kValues = {
      {"__rate_interval", "1m"}, {"__interval", "30s"},  {"__interval_ms", "30000"},
      {"__range", "1h"},         {"__range_s", "3600"},  {"instance", "localhost:9464"},
      {"job", "reencrypt"},
  };
  // $name, ${name} and ${name:format}; the longest name first so $__range_s is not $__range + _s.
  static const std::regex kVariable(R"(\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+))");
  std::string out;
  std::string text(expr);
  auto begin = std::sregex_iterator(text.begin(), text.end(), kVariable);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& match = *it;
    std::string name = match[1].matched ? match[1].str() : match[2].str();
    out += text.substr(last, match.position(0) - last);
    auto value = kValues.find(name);
    out += value == kValues.end() ? match.str(0) : value->second;
    last = match.position(0) + match.length(0);
  }
  out += text.substr(last);
  return out;
}

std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<DashboardQuery> queries;
  for (const nlohmann::json& panel : DataPanels(dashboard)) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      queries.push_back({"panel '" + panel.value("title", "?") + "' target " +
                             target.value("refId", "?"),
                         target.value("expr", "")});
    }
  }
  static const std::regex kLabelValues(R"(^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$)");
  const auto& variables = dashboard.value("templating", nlohmann::json::object())
                              .value("list", nlohmann::json::array());
  for (const auto& variable : variables) {
    if (variable.value("type", "") != "query") continue;
    const nlohmann::json& query = variable.value("query", nlohmann::json());
    std::string text = query.is_object() ? query.value("query", "") : query.get<std::string>();
    std::smatch match;
    std::string where = "variable '" + variable.value("name", "?") + "'";
    if (std::regex_match(text, match, kLabelValues)) {
      queries.push_back({where, match[1].str()});
    } else {
      queries.push_back({where, text});  // a plain PromQL query variable
    }
  }
  return queries;
}

std::vector<nlohmann::json> DataPanels(const nlohmann::json& dashboard) {
  std::vector<nlohmann::json> panels;
  CollectPanels(dashboard.value("panels", nlohmann::json::array()), panels);
  return panels;
}

std::vector<std::string> RuleExpressions(std::string_view rules_yaml) {
  std::vector<std::string> lines;
  std::istringstream in{std::string(rules_yaml)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  static const std::regex kExpr(R"(^(\s*)(?:-\s+)?expr:\s*(.*)$)");
  std::vector<std::string> expressions;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch match;
    if (!std::regex_match(lines[i], match, kExpr)) continue;
    std::string value = Trim(match[2].str());
    if (value.empty() || (value[0] != '|' && value[0] != '>')) {
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      expressions.push_back(value);
      continue;
    }
    // Block scalar: the following lines indented deeper than the key (blank lines included).
    const bool folded = value[0] == '>';
    const size_t key_indent = match[1].length();
    std::string block;
    size_t j = i + 1;
    for (; j < lines.size(); ++j) {
      if (Trim(lines[j]).empty()) continue;
      if (IndentOf(lines[j]) <= key_indent) break;
      if (!block.empty()) block += folded ? " " : "\n";
      block += Trim(lines[j]);
    }
    expressions.push_back(block);
    i = j - 1;
  }
  return expressions;
}

std::string MarkdownAnchor(std::string_view heading) {
  std::string anchor;
  for (char c : Trim(heading)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '_' || c == '-') {
      anchor.push_back(static_cast<char>(std::tolower(u)));
    } else if (c == ' ') {
      anchor.push_back('-');
    }
  }
  return anchor;
}

std::set<std::string> MarkdownAnchors(std::string_view markdown) {
  std::set<std::string> anchors;
  std::istringstream in{std::string(markdown)};
  bool in_code = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) in_code = !in_code;
    if (in_code || line.empty() || line[0] != '#') continue;
    size_t text = line.find_first_not_of('#');
    if (text == std::string::npos || line[text] != ' ') continue;
    anchors.insert(MarkdownAnchor(line.substr(text)));
  }
  return anchors;
}

}  // namespace udmg::testing
