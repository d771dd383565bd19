// The helpers that read the SRE artifacts (artifacts.h), and the shape of metrics/metric_names.txt.
// The dashboard and alert tests rely on these helpers to find every expression and every name, so
// each one is shown to catch what it must.
#include "tests/metrics/artifacts/artifacts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace udmg::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<MetricFamily> Families() {
  std::vector<std::string> errors;
  auto families = ParseMetricFamilies(
      "# comment\n\nudmg_a_total counter job,column job\nudmg_b_seconds histogram job,stage job\n"
      "udmg_c gauge - keystate\n",
      &errors);
  EXPECT_THAT(errors, IsEmpty());
  return families;
}

TEST(ArtifactParsingTest, ParsesTheFamilyListAndReportsBadLines) {
  std::vector<MetricFamily> families = Families();
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].name, "udmg_a_total");
  EXPECT_THAT(families[0].labels, ElementsAre("job", "column"));
  EXPECT_THAT(families[2].labels, IsEmpty());

  std::vector<std::string> errors;
  ParseMetricFamilies("udmg_x counter job\nudmg_y summary job job\nfoo gauge - job\n"
                      "udmg_z gauge - somewhere\n", &errors);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_THAT(errors[0], ::testing::HasSubstr("line 1"));
  EXPECT_THAT(errors[1], ::testing::HasSubstr("counter, gauge or histogram"));
}

TEST(ArtifactParsingTest, FindsMetricNamesButNotLabelValues) {
  EXPECT_THAT(MetricNamesIn(R"(sum by (job) (rate(udmg_a_total{job="udmg_sweep"}[5m])) / )"
                            R"(udmg_c offset 1h + my_udmg_thing + udmg_a_total)"),
              ElementsAre("udmg_a_total", "udmg_c"));
  EXPECT_THAT(MetricNamesIn(R"(x{a="\"udmg_quoted\""} or udmg_d)"), ElementsAre("udmg_d"));
}

TEST(ArtifactParsingTest, UnknownNamesIncludeWrongSuffixes) {
  std::vector<MetricFamily> families = Families();
  EXPECT_THAT(UnknownMetricNames("udmg_b_seconds_bucket + udmg_b_seconds_sum + udmg_a_total",
                                 families),
              IsEmpty());
  EXPECT_THAT(UnknownMetricNames("udmg_a + udmg_c_bucket + udmg_a_total_count + udmg_typo",
                                 families),
              ElementsAre("udmg_a", "udmg_c_bucket", "udmg_a_total_count", "udmg_typo"));
}

TEST(ArtifactParsingTest, SubstitutesGrafanaVariablesAndKeepsUnknownOnes) {
  EXPECT_EQ(SubstituteGrafanaVariables(
                R"(rate(x{instance=~"$instance",job=~"${job}"}[$__rate_interval]) + $__range_s)"),
            R"(rate(x{instance=~"localhost:9464",job=~"reencrypt"}[1m]) + 3600)");
  EXPECT_EQ(SubstituteGrafanaVariables(R"(x{a="${job:regex}"}[$__interval] $nope)"),
            R"(x{a="reencrypt"}[30s] $nope)");
}

TEST(ArtifactParsingTest, CollectsTargetsOfNestedPanelsAndVariableSelectors) {
  nlohmann::json dashboard = nlohmann::json::parse(R"json({
    "panels": [
      {"type": "stat", "title": "A", "targets": [{"refId": "A", "expr": "udmg_a_total"}]},
      {"type": "row", "title": "R", "collapsed": true, "panels": [
        {"type": "timeseries", "title": "B", "targets": [{"refId": "A", "expr": "up"},
                                                          {"refId": "B", "expr": "udmg_c"}]}]}],
    "templating": {"list": [
      {"type": "datasource", "name": "DS"},
      {"type": "query", "name": "job", "query": {"query": "label_values(udmg_c{x=\"1\"}, job)"}},
      {"type": "query", "name": "i", "query": "label_values(up, instance)"}]}})json");
  std::vector<DashboardQuery> queries = DashboardQueries(dashboard);
  ASSERT_EQ(queries.size(), 5u);
  EXPECT_EQ(queries[0].expr, "udmg_a_total");
  EXPECT_EQ(queries[2].expr, "udmg_c");
  EXPECT_EQ(queries[2].where, "panel 'B' target B");
  EXPECT_EQ(queries[3].expr, R"(udmg_c{x="1"})");
  EXPECT_EQ(queries[4].expr, "up");
  EXPECT_EQ(DataPanels(dashboard).size(), 2u);
}

TEST(ArtifactParsingTest, ReadsInlineAndBlockRuleExpressions) {
  std::vector<std::string> exprs = RuleExpressions(R"yaml(groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        for: 5m
      - alert: B
        expr: |
          sum(x)
            > 0

          or vector(1)
        labels:
          severity: warning
      - record: c
        expr: "rate(y[5m])"
      - alert: D
        expr: >-
          a
          and b
)yaml");
  EXPECT_THAT(exprs, ElementsAre("up == 0", "sum(x)\n> 0\nor vector(1)", "rate(y[5m])", "a and b"));
}

TEST(ArtifactParsingTest, MakesGithubStyleAnchors) {
  EXPECT_EQ(MarkdownAnchor("UdmgReencryptStalled"), "udmgreencryptstalled");
  EXPECT_EQ(MarkdownAnchor(" Throttle it over HTTP (curl) "), "throttle-it-over-http-curl");
  EXPECT_EQ(MarkdownAnchors("# Top\n```\n# not a heading\n```\n## Two words\n#nospace\n"),
            (std::set<std::string>{"top", "two-words"}));
}

// metrics/metric_names.txt is the contract's list: names follow the conventions of docs/operations.md.
TEST(MetricNamesFileTest, ListsTheContractFamiliesWithPrometheusConventions) {
  std::vector<std::string> errors;
  std::vector<MetricFamily> families =
      ParseMetricFamilies(ReadSourceFile("metrics/metric_names.txt"), &errors);
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(families.size(), 29u) << "the contract lists 14 job and 15 key-state families";
  std::set<std::string> names;
  for (const MetricFamily& family : families) {
    EXPECT_TRUE(names.insert(family.name).second) << family.name << " listed twice";
    bool total = family.name.ends_with("_total");
    EXPECT_EQ(total, family.type == "counter") << family.name << ": counters, and only they, end in _total";
    if (family.type == "histogram") {
      EXPECT_TRUE(family.name.ends_with("_seconds")) << family.name;
      EXPECT_THAT(family.labels, ::testing::Not(::testing::Contains("le"))) << family.name;
    }
    if (family.source == "job") {
      EXPECT_THAT(family.labels, ::testing::Contains("job")) << family.name;
    }
  }
  for (const char* name : {"udmg_reencrypt_rows_total", "udmg_reencrypt_batch_duration_seconds",
                           "udmg_key_values", "udmg_last_success_timestamp_seconds",
                           "udmg_node_root_key_stale"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
}

}  // namespace
}  // namespace udmg::testing
