// The Prometheus text exposition 0.0.4: exact output, escaping, ordering, histogram lines,
// number formatting, and promtool's verdict on what we produce (and on a broken input).
#include "metrics/text_serializer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "metrics/registry.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::metrics {
namespace {

using testing::PromtoolCheckMetrics;

std::string Serialize(const Registry& registry) {
  return TextSerializer().Serialize(registry.Collect());
}

TEST(FormatNumberTest, FormatsAsPrometheusParses) {
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(-0.0), "0");
  EXPECT_EQ(FormatNumber(1), "1");
  EXPECT_EQ(FormatNumber(-3), "-3");
  EXPECT_EQ(FormatNumber(1234567890123), "1234567890123");
  EXPECT_EQ(FormatNumber(1e15), "1000000000000000");
  EXPECT_EQ(FormatNumber(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(FormatNumber(9007199254740992.0), "9007199254740992");  // shortest form
  EXPECT_EQ(FormatNumber(1e16), "1e+16");
  EXPECT_EQ(FormatNumber(0.1), "0.1");
  EXPECT_EQ(FormatNumber(2.5), "2.5");
  EXPECT_EQ(FormatNumber(0.0025), "0.0025");
  EXPECT_EQ(FormatNumber(1e-7), "1e-07");
  EXPECT_EQ(FormatNumber(1e300), "1e+300");
  EXPECT_EQ(FormatNumber(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatNumber(1712345678.125), "1712345678.125");
  EXPECT_EQ(FormatNumber(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatNumber(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatNumber(-std::numeric_limits<double>::infinity()), "-Inf");
  for (double value : {0.1, 1.0 / 3, 6.02214076e23, 5e-324, 1.7976931348623157e308}) {
    EXPECT_EQ(std::strtod(FormatNumber(value).c_str(), nullptr), value) << "round trip";
  }
}

TEST(EscapeTest, EscapesHelpAndLabelValues) {
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");  // quotes stay in HELP
  EXPECT_EQ(EscapeLabelValue("a\\b\nc\"d"), "a\\\\b\\nc\\\"d");
  EXPECT_EQ(EscapeLabelValue("crédit.secret"), "crédit.secret");  // UTF-8 passes through
}

TEST(TextSerializerTest, WritesTheExactExposition) {
  Registry registry;
  auto rows = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows handled.")
                  .Labels({{"job", "reencrypt"}}).Register(registry);
  auto remaining = BuildGauge().Name("udmg_reencrypt_rows_remaining").Help("Rows left.")
                       .Register(registry);
  auto duration = BuildHistogram().Name("udmg_reencrypt_batch_duration_seconds")
                      .Help("Time per batch.").Register(registry);
  ASSERT_TRUE(rows.ok() && remaining.ok() && duration.ok());
  (*rows)->Add({{"column", "credentials.secret"}, {"result", "migrated"}}).Increment(1500);
  (*rows)->Add({{"column", "credentials.secret"}, {"result", "failed"}}).Increment(2);
  (*remaining)->Add({}).Set(98500);
  Histogram& write = (*duration)->Add({{"stage", "write"}}, Histogram::BucketBoundaries{0.1, 1});
  write.Observe(0.05);
  write.Observe(0.5);
  write.Observe(3);
  EXPECT_EQ(Serialize(registry),
            "# HELP udmg_reencrypt_batch_duration_seconds Time per batch.\n"
            "# TYPE udmg_reencrypt_batch_duration_seconds histogram\n"
            "udmg_reencrypt_batch_duration_seconds_bucket{stage=\"write\",le=\"0.1\"} 1\n"
            "udmg_reencrypt_batch_duration_seconds_bucket{stage=\"write\",le=\"1\"} 2\n"
            "udmg_reencrypt_batch_duration_seconds_bucket{stage=\"write\",le=\"+Inf\"} 3\n"
            "udmg_reencrypt_batch_duration_seconds_sum{stage=\"write\"} 3.55\n"
            "udmg_reencrypt_batch_duration_seconds_count{stage=\"write\"} 3\n"
            "# HELP udmg_reencrypt_rows_remaining Rows left.\n"
            "# TYPE udmg_reencrypt_rows_remaining gauge\n"
            "udmg_reencrypt_rows_remaining 98500\n"
            "# HELP udmg_reencrypt_rows_total Rows handled.\n"
            "# TYPE udmg_reencrypt_rows_total counter\n"
            "udmg_reencrypt_rows_total{column=\"credentials.secret\",job=\"reencrypt\","
            "result=\"failed\"} 2\n"
            "udmg_reencrypt_rows_total{column=\"credentials.secret\",job=\"reencrypt\","
            "result=\"migrated\"} 1500\n");
  testing::ExpectPromtoolAccepts(Serialize(registry));
}

TEST(TextSerializerTest, EscapesInTheExposition) {
  Registry registry;
  auto family = BuildGauge().Name("udmg_escape").Help("Back\\slash and\nnewline \"quoted\".")
                    .Register(registry);
  ASSERT_TRUE(family.ok());
  (*family)->Add({{"column", "a\"b\\c\nd"}}).Set(1);
  EXPECT_EQ(Serialize(registry),
            "# HELP udmg_escape Back\\\\slash and\\nnewline \"quoted\".\n"
            "# TYPE udmg_escape gauge\n"
            "udmg_escape{column=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(TextSerializerTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  Registry registry;
  auto family = BuildHistogram().Name("udmg_h_seconds").Help("h").Register(registry);
  ASSERT_TRUE(family.ok());
  Histogram& histogram = (*family)->Add({}, BatchDurationBuckets());
  for (int i = 0; i < 100; ++i) histogram.Observe(i * 0.07);
  const std::string text = Serialize(registry);
  double previous = -1;
  int buckets = 0;
  size_t position = 0;
  std::string last_le;
  while ((position = text.find("udmg_h_seconds_bucket{le=\"", position)) != std::string::npos) {
    const size_t le_start = position + 26;
    const size_t le_end = text.find('"', le_start);
    last_le = text.substr(le_start, le_end - le_start);
    const double count = std::stod(text.substr(text.find(' ', le_end) + 1));
    EXPECT_GE(count, previous) << "bucket le=" << last_le << " is not cumulative";
    previous = count;
    ++buckets;
    position = le_end;
  }
  EXPECT_EQ(buckets, 14);
  EXPECT_EQ(last_le, "+Inf");
  EXPECT_EQ(previous, 100);
  EXPECT_NE(text.find("udmg_h_seconds_count 100\n"), std::string::npos);
  EXPECT_NE(text.find("le=\"0.0025\""), std::string::npos);
}

TEST(TextSerializerTest, AHandBuiltHistogramWithoutInfGetsOne) {
  MetricFamily family{"udmg_hand_seconds", "h", MetricType::kHistogram, {}};
  ClientMetric metric;
  metric.histogram = {3, 1.5, {{2, 1.0}}};
  family.metric.push_back(metric);
  const std::string text = TextSerializer().Serialize({family});
  EXPECT_NE(text.find("udmg_hand_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
}

TEST(TextSerializerTest, MergesFamiliesFromSeveralCollectablesAndSkipsEmptyOnes) {
  Registry first;
  Registry second;
  auto a = BuildGauge().Name("udmg_key_values").Help("v").Register(first);
  auto b = BuildGauge().Name("udmg_key_values").Help("v").Register(second);
  auto clash = BuildCounter().Name("udmg_b_total").Help("x").Register(first);
  auto clash2 = BuildGauge().Name("udmg_b_total").Help("x").Register(second);
  auto empty = BuildGauge().Name("udmg_empty").Help("e").Register(second);
  ASSERT_TRUE(a.ok() && b.ok() && clash.ok() && clash2.ok() && empty.ok());
  (*a)->Add({{"version", "3"}}).Set(1);
  (*b)->Add({{"version", "2"}}).Set(2);
  (*clash)->Add({}).Increment();
  (*clash2)->Add({}).Set(7);
  std::vector<MetricFamily> families = first.Collect();
  for (auto& family : second.Collect()) families.push_back(family);
  const std::string text = TextSerializer().Serialize(families);
  EXPECT_EQ(text,
            "# HELP udmg_b_total x\n"
            "# TYPE udmg_b_total counter\n"
            "udmg_b_total 1\n"
            "# HELP udmg_key_values v\n"
            "# TYPE udmg_key_values gauge\n"
            "udmg_key_values{version=\"2\"} 2\n"
            "udmg_key_values{version=\"3\"} 1\n");
}

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override { UDMG_REQUIRE_TOOL(testing::kPromtool); }
};

// Proves the promtool checks can fail: broken expositions are reported.
TEST_F(PromtoolTest, RejectsBrokenInput) {
  for (const char* broken : {
           "# TYPE udmg_x_total counter\nudmg_x_total{a=\"b} 1\n",           // unclosed quote
           "# TYPE udmg_x gauge\nudmg_x 1\n# TYPE udmg_x gauge\nudmg_x 2\n",  // two TYPE lines
           "# HELP udmg_x c\n# TYPE udmg_x counter\nudmg_x 1\n",             // lint: no _total
           "udmg_h_bucket{le=\"1\"} 1\n# TYPE udmg_h histogram\n",          // TYPE after samples
       }) {
    const auto check = PromtoolCheckMetrics(broken);
    EXPECT_NE(check.exit_code, 0) << "promtool accepted:\n" << broken;
  }
}

// Every family of the metrics contract, with its labels, passes promtool's parser and linter.
TEST_F(PromtoolTest, AcceptsTheContractFamilies) {
  Registry registry;
  const Labels job = {{"job", "reencrypt"}};
  auto counter = [&](const char* name, const Labels& labels) {
    auto family = BuildCounter().Name(name).Help("Help for " + std::string(name) + ".")
                      .Register(registry);
    ASSERT_TRUE(family.ok()) << family.error().message;
    (*family)->Add(labels).Increment(3);
  };
  auto gauge = [&](const char* name, const Labels& labels, double value) {
    auto family = BuildGauge().Name(name).Help("Help for " + std::string(name) + ".")
                      .Register(registry);
    ASSERT_TRUE(family.ok()) << family.error().message;
    (*family)->Add(labels).Set(value);
  };
  counter("udmg_reencrypt_rows_total",
          {{"job", "reencrypt"}, {"column", "credentials.secret"}, {"result", "migrated"}});
  counter("udmg_reencrypt_batches_total", job);
  counter("udmg_reencrypt_throttled_seconds_total", {{"job", "sweep"}, {"reason", "rate"}});
  counter("udmg_reencrypt_failures_total", {{"job", "sweep"}, {"column", "a.b"}});
  gauge("udmg_reencrypt_rows_remaining", job, 12);
  gauge("udmg_reencrypt_progress_ratio", job, 0.25);
  gauge("udmg_reencrypt_batches_in_flight", job, 2);
  gauge("udmg_reencrypt_throttle_rows_per_second", job, 0);
  gauge("udmg_reencrypt_batch_size_rows", job, 1000);
  gauge("udmg_reencrypt_job_state", {{"job", "reencrypt"}, {"state", "running"}}, 1);
  gauge("udmg_reencrypt_job_start_timestamp_seconds", job, 1712345678.5);
  gauge("udmg_key_values", {{"column", "credentials.secret"}, {"version", "plaintext"}}, 4);
  gauge("udmg_key_values_stale", {{"column", "credentials.secret"}}, 4);
  gauge("udmg_master_key_active_version", {}, 3);
  gauge("udmg_root_key_active_version", {}, 1);
  gauge("udmg_last_success_timestamp_seconds", {{"job", "sweep"}}, 1712345678);
  gauge("udmg_node_root_key_stale", {{"node", "gw-1"}, {"host", "db1"}}, 0);
  gauge("udmg_node_last_seen_timestamp_seconds", {{"node", "gw-1"}}, 1712345678);
  auto duration = BuildHistogram().Name("udmg_reencrypt_batch_duration_seconds")
                      .Help("Time per batch in each stage.").Register(registry);
  ASSERT_TRUE(duration.ok());
  for (const char* stage : {"fetch", "crypto", "write"}) {
    (*duration)->Add({{"job", "reencrypt"}, {"stage", stage}}, BatchDurationBuckets())
        .Observe(0.02);
  }
  const std::string text = Serialize(registry);
  const auto check = PromtoolCheckMetrics(text);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << text;
}

}  // namespace
}  // namespace udmg::metrics
