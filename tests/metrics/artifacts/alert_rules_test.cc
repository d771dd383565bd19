// metrics/alerts.yml and metrics/alerts_test.yml: promtool accepts the rules and their unit tests
// pass; a broken rule or a changed threshold makes them fail (each alert's test can fail); every
// alert has a severity, a summary, a description and a runbook anchor that exists in
// docs/operations.md; every metric name is one of the contract's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "tests/metrics/artifacts/artifacts.h"
#include "tests/metrics/artifacts/metrics_tools.h"

namespace udmg::testing {
namespace {

constexpr char kRules[] = "metrics/alerts.yml";
constexpr char kRuleTests[] = "metrics/alerts_test.yml";

const std::set<std::string> kExpectedAlerts = {
    "UdmgReencryptStalled",   "UdmgReencryptFailures", "UdmgSweepNoRecentSuccess",
    "UdmgValuesOnOldVersion", "UdmgPlaintextValues",   "UdmgNodeOnOldRootKey",
    "UdmgKeyOld",             "UdmgKeyRotationOverdue"};

// One `- alert:` entry of the rules file, as text up to the next entry or group.
struct AlertBlock {
  std::string name;
  std::string text;
};

std::vector<AlertBlock> AlertBlocks(const std::string& rules) {
  static const std::regex kAlert(R"(^\s*- (?:alert|record|name): *(\S*)\s*$)");
  std::vector<AlertBlock> blocks;
  std::istringstream in(rules);
  AlertBlock* current = nullptr;
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_match(line, match, kAlert)) {
      current = nullptr;
      if (line.find("- alert:") != std::string::npos) {
        blocks.push_back({match[1].str(), ""});
        current = &blocks.back();
      }
    }
    if (current != nullptr) current->text += line + "\n";
  }
  return blocks;
}

// Replaces `from` (which must occur exactly once) by `to`.
std::string ReplaceOnce(const std::string& text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found: update this test's mutation";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' is not unique";
  return text.substr(0, at) + to + text.substr(at + from.size());
}

// alerts_test.yml reduced to its header and the test groups that check `alert` (groups start with
// "  - interval:"), so that a mutation of one alert runs only that alert's tests.
std::string RuleTestsOf(const std::string& tests, const std::string& alert) {
  static constexpr std::string_view kGroupStart = "\n  - interval:";
  size_t first = tests.find(kGroupStart);
  EXPECT_NE(first, std::string::npos) << kRuleTests << ": no test group";
  if (first == std::string::npos) return tests;
  std::string selected = tests.substr(0, first + 1);
  for (size_t at = first; at != std::string::npos;) {
    size_t next = tests.find(kGroupStart, at + 1);
    std::string group = tests.substr(at + 1, next == std::string::npos ? std::string::npos
                                                                        : next - at);
    if (group.find("alertname: " + alert + "\n") != std::string::npos) selected += group;
    at = next;
  }
  return selected;
}

class AlertRulesTest : public ::testing::Test {
 protected:
  void SetUp() override { UDMG_REQUIRE_METRICS_TOOL(promtool_, "promtool"); }

  // The rules (possibly mutated) and unit tests in a temp dir; `promtool test rules` there.
  ProcessResult RunUnitTests(const std::string& rules, const std::string& tests) {
    TempDir dir;
    EXPECT_TRUE(WriteFile(dir.path() / "alerts.yml", rules));
    EXPECT_TRUE(WriteFile(dir.path() / "alerts_test.yml", tests));
    return RunPromtool(promtool_, {"test", "rules", "alerts_test.yml"}, dir.path());
  }
  ProcessResult CheckRules(const std::string& rules) {
    TempDir dir;
    EXPECT_TRUE(WriteFile(dir.path() / "alerts.yml", rules));
    return RunPromtool(promtool_, {"check", "rules", "alerts.yml"}, dir.path());
  }

  std::filesystem::path promtool_;
};

TEST_F(AlertRulesTest, PromtoolCheckRulesPasses) {
  ProcessResult result = RunPromtool(promtool_, {"check", "rules", SourcePath(kRules).string()});
  EXPECT_TRUE(result.Exited(0)) << result.Describe();
  EXPECT_THAT(result.stdout_data, ::testing::HasSubstr("SUCCESS"));
}

TEST_F(AlertRulesTest, PromtoolRuleUnitTestsPass) {
  ProcessResult result =
      RunPromtool(promtool_, {"test", "rules", SourcePath(kRuleTests).string()});
  EXPECT_TRUE(result.Exited(0)) << result.Describe();
}

TEST_F(AlertRulesTest, CheckRulesRejectsABrokenExpression) {
  std::string broken = ReplaceOnce(ReadSourceFile(kRules), "> 26 * 3600", "> 26 * ");
  ProcessResult result = CheckRules(broken);
  EXPECT_FALSE(result.Exited(0)) << result.Describe();
}

// Each mutation weakens or shifts one alert; the unit tests must notice every one.
TEST_F(AlertRulesTest, UnitTestsCatchAChangeToAnyAlert) {
  const std::string rules = ReadSourceFile(kRules);
  const std::string tests = ReadSourceFile(kRuleTests);
  struct Mutation {
    const char* alert;
    const char* from;
    const char* to;
  };
  const Mutation kMutations[] = {
      {"UdmgReencryptStalled", R"(udmg_reencrypt_job_state{state="running"})",
       R"(udmg_reencrypt_job_state{state="paused"})"},
      {"UdmgReencryptStalled", "time() - udmg_reencrypt_job_start_timestamp_seconds) > 600",
       "time() - udmg_reencrypt_job_start_timestamp_seconds) > 0"},
      {"UdmgReencryptFailures",
       "          or\n          sum by (instance, job, column) (udmg_reencrypt_failures_total) > 0\n",
       ""},
      {"UdmgSweepNoRecentSuccess", "> 26 * 3600", "> 30 * 3600"},
      {"UdmgSweepNoRecentSuccess", "[26h])", "[20h])"},
      {"UdmgValuesOnOldVersion", "for: 7d", "for: 5d"},
      {"UdmgPlaintextValues", R"({version="plaintext"})", R"({version="malformed"})"},
      {"UdmgNodeOnOldRootKey", "(udmg_node_root_key_stale) == 1", "(udmg_node_root_key_stale) == 0"},
      {"UdmgKeyOld", "> 365 * 86400", "> 400 * 86400"},
      // UdmgKeyRotationOverdue has the same label_replace: the text up to "> 365" is UdmgKeyOld's.
      {"UdmgKeyOld", R"(max(udmg_root_key_created_timestamp_seconds), "key", "root", "", ""))"
                     "\n          ) > 365",
       R"(min(udmg_root_key_created_timestamp_seconds), "key", "root", "", ""))"
       "\n          ) > 365"},
      {"UdmgKeyRotationOverdue", "(udmg_key_rotation_overdue) == 1",
       "(udmg_key_rotation_overdue) == 2"},
      {"UdmgKeyRotationOverdue", ">= on (key) (max by (key) (udmg_key_policy_max_age_seconds) > 0)",
       "> on (key) 2 * (max by (key) (udmg_key_policy_max_age_seconds) > 0)"},
      {"UdmgKeyRotationOverdue", "(udmg_key_policy_max_age_seconds) > 0)",
       "(udmg_key_policy_max_age_seconds) >= 0)"},
  };
  for (const Mutation& mutation : kMutations) {
    std::string mutated = ReplaceOnce(rules, mutation.from, mutation.to);
    ASSERT_NE(mutated, rules) << mutation.alert;
    ASSERT_TRUE(CheckRules(mutated).Exited(0)) << "the mutation must stay valid: " << mutation.from;
    std::string own_tests = RuleTestsOf(tests, mutation.alert);
    ASSERT_TRUE(RunUnitTests(rules, own_tests).Exited(0)) << "the reduced tests pass unmutated";
    ProcessResult result = RunUnitTests(mutated, own_tests);
    EXPECT_FALSE(result.Exited(0)) << mutation.alert << ": changing '" << mutation.from
                                   << "' to '" << mutation.to << "' went unnoticed";
  }
}

// The prometheus.yml fragment of docs/operations.md (scrape jobs, relabeling, rule_files) is a
// valid configuration, with the rules loaded from it.
TEST_F(AlertRulesTest, DocumentedScrapeConfigIsValid) {
  const std::string docs = ReadSourceFile("docs/operations.md");
  const std::string kStart = "```yaml\n# prometheus.yml";
  size_t begin = docs.find(kStart);
  ASSERT_NE(begin, std::string::npos) << "docs/operations.md lost its prometheus.yml example";
  begin += std::string("```yaml\n").size();
  size_t end = docs.find("```", begin);
  ASSERT_NE(end, std::string::npos);
  TempDir dir;
  std::string config = ReplaceOnce(docs.substr(begin, end - begin),
                                   "/etc/prometheus/rules/udmg-alerts.yml",
                                   (dir.path() / "alerts.yml").string());
  ASSERT_TRUE(WriteFile(dir.path() / "alerts.yml", ReadSourceFile(kRules)));
  ASSERT_TRUE(WriteFile(dir.path() / "prometheus.yml", config));
  ProcessResult result = RunPromtool(promtool_, {"check", "config", "prometheus.yml"}, dir.path());
  EXPECT_TRUE(result.Exited(0)) << result.Describe();

  // A broken relabel regex in the same file is refused: the check can fail.
  std::string broken = ReplaceOnce(config, "regex: 'udmg_.+;(.+)'", "regex: 'udmg_.+;((.+)'");
  ASSERT_TRUE(WriteFile(dir.path() / "prometheus.yml", broken));
  EXPECT_FALSE(RunPromtool(promtool_, {"check", "config", "prometheus.yml"}, dir.path()).Exited(0));
}

TEST(AlertRulesContentTest, EveryAlertHasSeverityAnnotationsAndAnExistingRunbook) {
  const std::string rules = ReadSourceFile(kRules);
  const std::string tests = ReadSourceFile(kRuleTests);
  const std::set<std::string> anchors = MarkdownAnchors(ReadSourceFile("docs/operations.md"));
  static const std::regex kRunbook(R"re(runbook_url: "docs/operations\.md#([a-z0-9_-]+)")re");
  static const std::regex kSeverity(R"(severity: (critical|warning))");

  std::set<std::string> names;
  for (const AlertBlock& block : AlertBlocks(rules)) {
    names.insert(block.name);
    std::smatch match;
    EXPECT_TRUE(std::regex_search(block.text, kSeverity)) << block.name << ": severity";
    EXPECT_NE(block.text.find("summary:"), std::string::npos) << block.name;
    EXPECT_NE(block.text.find("description:"), std::string::npos) << block.name;
    ASSERT_TRUE(std::regex_search(block.text, match, kRunbook)) << block.name << ": runbook_url";
    EXPECT_EQ(match[1].str(), MarkdownAnchor(block.name)) << block.name;
    EXPECT_TRUE(anchors.count(match[1].str()))
        << block.name << ": docs/operations.md has no heading for #" << match[1].str();
    EXPECT_NE(tests.find("alertname: " + block.name), std::string::npos)
        << block.name << " has no promtool unit test in " << kRuleTests;
  }
  EXPECT_EQ(names, kExpectedAlerts);
}

TEST(AlertRulesContentTest, UsesOnlyContractMetrics) {
  std::vector<std::string> errors;
  std::vector<MetricFamily> families =
      ParseMetricFamilies(ReadSourceFile("metrics/metric_names.txt"), &errors);
  ASSERT_THAT(errors, ::testing::IsEmpty());
  std::vector<std::string> exprs = RuleExpressions(ReadSourceFile(kRules));
  EXPECT_EQ(exprs.size(), kExpectedAlerts.size());
  for (const std::string& expr : exprs) {
    EXPECT_FALSE(MetricNamesIn(expr).empty()) << expr;
    EXPECT_THAT(UnknownMetricNames(expr, families), ::testing::IsEmpty()) << expr;
  }
  // And the check can fail: a name the contract does not have.
  EXPECT_THAT(UnknownMetricNames("udmg_reencrypt_rows{job=\"sweep\"} > 0", families),
              ::testing::ElementsAre("udmg_reencrypt_rows"));
}

}  // namespace
}  // namespace udmg::testing
