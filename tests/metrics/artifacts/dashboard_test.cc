// metrics/dashboards/reencrypt.json: valid Grafana JSON, every panel queries the ${DS_PROMETHEUS}
// data source, every expression is PromQL that a real Prometheus 2.42 accepts, and every metric it
// uses is one of the contract's (metrics/metric_names.txt).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "tests/metrics/artifacts/artifacts.h"
#include "tests/metrics/artifacts/metrics_tools.h"

namespace udmg::testing {
namespace {

constexpr char kDashboard[] = "metrics/dashboards/reencrypt.json";
constexpr char kDataSource[] = "${DS_PROMETHEUS}";

nlohmann::json LoadDashboard() {
  nlohmann::json dashboard =
      nlohmann::json::parse(ReadSourceFile(kDashboard), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(dashboard.is_discarded()) << kDashboard << " is not valid JSON";
  return dashboard;
}

std::vector<MetricFamily> ContractFamilies() {
  std::vector<std::string> errors;
  auto families = ParseMetricFamilies(ReadSourceFile("metrics/metric_names.txt"), &errors);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  return families;
}

bool UsesDataSourceVariable(const nlohmann::json& datasource) {
  if (datasource.is_string()) return datasource.get<std::string>() == kDataSource;
  return datasource.is_object() && datasource.value("uid", "") == kDataSource &&
         datasource.value("type", "") == "prometheus";
}

TEST(DashboardTest, IsAGrafanaDashboardWithTheDataSourceInputAndVariables) {
  nlohmann::json dashboard = LoadDashboard();
  ASSERT_TRUE(dashboard.is_object());
  EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  EXPECT_FALSE(dashboard.value("title", "").empty());

  bool input_found = false;
  for (const auto& input : dashboard.value("__inputs", nlohmann::json::array())) {
    input_found |= input.value("name", "") == "DS_PROMETHEUS" &&
                   input.value("type", "") == "datasource" &&
                   input.value("pluginId", "") == "prometheus";
  }
  EXPECT_TRUE(input_found) << "an __inputs entry DS_PROMETHEUS (datasource, prometheus) is needed "
                              "so that Grafana asks for the data source on import";

  std::map<std::string, nlohmann::json> variables;
  for (const auto& variable : dashboard["templating"]["list"]) {
    variables[variable.value("name", "")] = variable;
  }
  ASSERT_TRUE(variables.count("DS_PROMETHEUS"));
  EXPECT_EQ(variables["DS_PROMETHEUS"].value("type", ""), "datasource");
  for (const char* name : {"instance", "job"}) {
    ASSERT_TRUE(variables.count(name)) << "template variable $" << name << " is missing";
    EXPECT_EQ(variables[name].value("type", ""), "query") << name;
    EXPECT_TRUE(UsesDataSourceVariable(variables[name]["datasource"])) << name;
  }
}

TEST(DashboardTest, EveryPanelHasTheDataSourceAndAtLeastOneTarget) {
  nlohmann::json dashboard = LoadDashboard();
  std::vector<nlohmann::json> panels = DataPanels(dashboard);
  ASSERT_GE(panels.size(), 15u) << "the dashboard lost panels";
  std::set<int> ids;
  for (const auto& panel : panels) {
    std::string title = panel.value("title", "");
    EXPECT_FALSE(title.empty()) << panel.dump();
    EXPECT_TRUE(ids.insert(panel.value("id", -1)).second) << "duplicate panel id in " << title;
    EXPECT_TRUE(panel.contains("gridPos")) << title;
    EXPECT_TRUE(UsesDataSourceVariable(panel.value("datasource", nlohmann::json())))
        << "panel '" << title << "' must use the ${DS_PROMETHEUS} data source";
    const auto& targets = panel.value("targets", nlohmann::json::array());
    EXPECT_FALSE(targets.empty()) << "panel '" << title << "' has no target";
    std::set<std::string> ref_ids;
    for (const auto& target : targets) {
      EXPECT_FALSE(target.value("expr", "").empty()) << title;
      EXPECT_TRUE(ref_ids.insert(target.value("refId", "")).second) << title << ": duplicate refId";
      EXPECT_TRUE(UsesDataSourceVariable(target.value("datasource", nlohmann::json()))) << title;
    }
  }
}

TEST(DashboardTest, UsesOnlyContractMetricsAndShowsEveryFamily) {
  std::vector<MetricFamily> families = ContractFamilies();
  std::set<std::string> used;
  for (const DashboardQuery& query : DashboardQueries(LoadDashboard())) {
    EXPECT_THAT(UnknownMetricNames(query.expr, families), ::testing::IsEmpty())
        << query.where << ": " << query.expr
        << " uses a name that is not in metrics/metric_names.txt";
    for (const std::string& name : MetricNamesIn(query.expr)) used.insert(name);
  }
  for (const MetricFamily& family : families) {
    bool shown = used.count(family.name) || used.count(family.name + "_bucket");
    EXPECT_TRUE(shown) << family.name << " is in the contract but on no panel";
  }
}

// One Prometheus for the suite: starting it is the slow part.
class DashboardPromqlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto binary = FindMetricsTool("prometheus");
    if (!binary) return;
    server_ = PrometheusServer::Start(*binary, &start_error_).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    std::filesystem::path binary;
    UDMG_REQUIRE_METRICS_TOOL(binary, "prometheus");
    ASSERT_NE(server_, nullptr) << start_error_;
  }

  static PrometheusServer* server_;
  static std::string start_error_;
};

PrometheusServer* DashboardPromqlTest::server_ = nullptr;
std::string DashboardPromqlTest::start_error_;

TEST_F(DashboardPromqlTest, EveryExpressionParsesInPrometheus) {
  std::vector<DashboardQuery> queries = DashboardQueries(LoadDashboard());
  ASSERT_FALSE(queries.empty());
  for (const DashboardQuery& query : queries) {
    std::string expr = SubstituteGrafanaVariables(query.expr);
    QueryResult result = server_->Query(expr);
    EXPECT_TRUE(result.success) << query.where << ": " << expr << "\n  " << result.error;
  }
}

// The check above can fail: Prometheus refuses broken PromQL, and an unknown template variable
// left in an expression.
TEST_F(DashboardPromqlTest, PrometheusRejectsBrokenExpressions) {
  EXPECT_TRUE(server_->Query("sum by (job) (rate(udmg_reencrypt_rows_total[1m]))").success);
  for (const char* broken : {
           "sum by (job (udmg_reencrypt_rows_total)",           // unbalanced
           "rate(udmg_reencrypt_rows_total)",                    // no range
           "histogram_quantile(0.99, udmg_reencrypt_rows_total[5m])",  // range where vector needed
           "udmg_reencrypt_rows_total{job=~\"reencrypt\"}[$nope]",     // unknown variable
       }) {
    QueryResult result = server_->Query(SubstituteGrafanaVariables(broken));
    EXPECT_FALSE(result.success) << broken << " was accepted";
    EXPECT_FALSE(result.error.empty()) << broken;
  }
}

}  // namespace
}  // namespace udmg::testing
