// Counters, gauges, histograms, families and the registry: values, validation, stable
// references, and exact totals under concurrent updates.
#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace udmg::metrics {
namespace {

TEST(CounterTest, IncrementsAndIgnoresNegativeAndNaN) {
  Counter counter;
  counter.Increment();
  counter.Increment(2.5);
  counter.Increment(-10);
  counter.Increment(std::nan(""));
  EXPECT_DOUBLE_EQ(counter.Value(), 3.5);
  EXPECT_DOUBLE_EQ(counter.Collect().counter.value, 3.5);
}

TEST(GaugeTest, SetsIncrementsDecrementsAndTakesTheTime) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Increment(5);
  gauge.Decrement(7.5);
  gauge.Decrement();
  EXPECT_DOUBLE_EQ(gauge.Value(), 6.5);
  const double before = static_cast<double>(std::time(nullptr));
  gauge.SetToCurrentTime();
  EXPECT_GE(gauge.Value(), before);
  EXPECT_LE(gauge.Value(), before + 3600);  // seconds, not milliseconds
}

TEST(HistogramTest, CountsInTheFirstBucketAtOrAboveAndCumulates) {
  Histogram histogram({1, 2, 5});
  for (double value : {0.5, 1.0, 1.5, 2.0, 4.0, 7.0, 100.0}) histogram.Observe(value);
  const ClientMetric::Histogram collected = histogram.Collect().histogram;
  ASSERT_EQ(collected.bucket.size(), 4u);
  EXPECT_EQ(collected.bucket[0].cumulative_count, 2u);  // 0.5, 1.0 (le is inclusive)
  EXPECT_EQ(collected.bucket[1].cumulative_count, 4u);  // + 1.5, 2.0
  EXPECT_EQ(collected.bucket[2].cumulative_count, 5u);  // + 4.0
  EXPECT_EQ(collected.bucket[3].cumulative_count, 7u);  // + 7, 100
  EXPECT_TRUE(std::isinf(collected.bucket[3].upper_bound));
  EXPECT_EQ(collected.sample_count, 7u);
  EXPECT_DOUBLE_EQ(collected.sample_sum, 116.0);
}

TEST(HistogramTest, ValidatesBoundariesAndDropsATrailingInf) {
  EXPECT_TRUE(Histogram::ValidateArgs({}).ok());
  EXPECT_TRUE(Histogram::ValidateArgs({0.1, 1, INFINITY}).ok());
  EXPECT_EQ(Histogram::ValidateArgs({1, 1}).code(), ErrorCode::kInternal);
  EXPECT_FALSE(Histogram::ValidateArgs({2, 1}).ok());
  EXPECT_FALSE(Histogram::ValidateArgs({NAN}).ok());
  EXPECT_FALSE(Histogram::ValidateArgs({-INFINITY, 1}).ok());
  EXPECT_FALSE(Histogram::ValidateArgs({INFINITY, 1}).ok());
  Histogram histogram({0.1, 1, INFINITY});
  EXPECT_EQ(histogram.boundaries(), (Histogram::BucketBoundaries{0.1, 1}));
  EXPECT_EQ(histogram.Collect().histogram.bucket.size(), 3u);
}

TEST(HistogramTest, ContractBatchDurationBuckets) {
  EXPECT_EQ(BatchDurationBuckets(), (Histogram::BucketBoundaries{
                                        .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                        5, 10}));
}

TEST(FamilyTest, AddReturnsTheSameStableSeriesPerLabelSet) {
  Registry registry;
  auto family = BuildCounter().Name("udmg_test_total").Help("Test.").Register(registry);
  ASSERT_TRUE(family.ok()) << family.error().message;
  Counter& first = (*family)->Add({{"result", "migrated"}});
  for (int i = 0; i < 1000; ++i) (*family)->Add({{"result", "r" + std::to_string(i)}});
  Counter& again = (*family)->Add({{"result", "migrated"}});
  EXPECT_EQ(&first, &again);
  EXPECT_TRUE((*family)->Has({{"result", "r5"}}));
  EXPECT_FALSE((*family)->Has({{"result", "other"}}));
}

TEST(FamilyTest, RejectsInvalidLabels) {
  Registry registry;
  auto counters = BuildCounter().Name("udmg_c_total").Help("c").Labels({{"job", "sweep"}})
                      .Register(registry);
  ASSERT_TRUE(counters.ok());
  for (const char* bad : {"", "1abc", "a-b", "__reserved", "a b", "é"}) {
    auto added = (*counters)->TryAdd({{bad, "v"}});
    ASSERT_FALSE(added.ok()) << bad;
    EXPECT_EQ(added.error().code, ErrorCode::kInternal);
    EXPECT_EQ(added.error().message.find('\n'), std::string::npos);
  }
  EXPECT_FALSE((*counters)->TryAdd({{"job", "reencrypt"}}).ok()) << "repeats a constant label";
  EXPECT_TRUE((*counters)->TryAdd({{"le", "x"}, {"_ok9", "v"}}).ok()) << "le is fine on counters";

  auto histograms = BuildHistogram().Name("udmg_h_seconds").Help("h").Register(registry);
  ASSERT_TRUE(histograms.ok());
  EXPECT_FALSE((*histograms)->TryAdd({{"le", "1"}}, Histogram::BucketBoundaries{1}).ok());
  EXPECT_FALSE((*histograms)->TryAdd({}, Histogram::BucketBoundaries{2, 1}).ok());
  ASSERT_TRUE((*histograms)->TryAdd({}, Histogram::BucketBoundaries{1, 2}).ok());
  EXPECT_TRUE((*histograms)->TryAdd({}, Histogram::BucketBoundaries{1, 2, INFINITY}).ok());
  EXPECT_FALSE((*histograms)->TryAdd({}, Histogram::BucketBoundaries{1, 3}).ok())
      << "an existing series keeps its buckets";
  EXPECT_FALSE(BuildHistogram().Name("udmg_h2").Help("h").Labels({{"le", "1"}})
                   .Register(registry).ok());
}

TEST(FamilyTest, RemoveDropsOneSeries) {
  Registry registry;
  auto family = BuildGauge().Name("udmg_g").Help("g").Register(registry);
  ASSERT_TRUE(family.ok());
  Gauge& a = (*family)->Add({{"version", "1"}});
  (*family)->Add({{"version", "2"}});
  (*family)->Remove(&a);
  EXPECT_FALSE((*family)->Has({{"version", "1"}}));
  ASSERT_EQ((*family)->Collect()[0].metric.size(), 1u);
  EXPECT_EQ((*family)->Collect()[0].metric[0].label[0].value, "2");
}

TEST(RegistryTest, RegisteringTheSameFamilyTwiceReturnsIt) {
  Registry registry;
  auto first = BuildGauge().Name("udmg_x").Help("X.").Labels({{"a", "b"}}).Register(registry);
  auto second = BuildGauge().Name("udmg_x").Help("X.").Labels({{"a", "b"}}).Register(registry);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(RegistryTest, ADifferentTypeHelpOrConstantLabelsIsAnError) {
  Registry registry;
  ASSERT_TRUE(BuildGauge().Name("udmg_x").Help("X.").Register(registry).ok());
  auto counter = BuildCounter().Name("udmg_x").Help("X.").Register(registry);
  ASSERT_FALSE(counter.ok());
  EXPECT_EQ(counter.error().code, ErrorCode::kInternal);
  EXPECT_NE(counter.error().message.find("udmg_x"), std::string::npos);
  EXPECT_NE(counter.error().message.find("gauge"), std::string::npos);
  auto help = BuildGauge().Name("udmg_x").Help("Other.").Register(registry);
  ASSERT_FALSE(help.ok());
  EXPECT_EQ(help.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(BuildGauge().Name("udmg_x").Help("X.").Labels({{"a", "b"}}).Register(registry).ok());
}

TEST(RegistryTest, ValidatesMetricNames) {
  Registry registry;
  for (const char* good : {"udmg_rows_total", "a", "_x", "ns:sub:name", "A9"}) {
    EXPECT_TRUE(BuildCounter().Name(good).Help("h").Register(registry).ok()) << good;
  }
  for (const char* bad : {"", "9lives", "udmg-rows", "udmg rows", "udmg.rows", "udmg{x}"}) {
    auto family = BuildCounter().Name(bad).Help("h").Register(registry);
    ASSERT_FALSE(family.ok()) << bad;
    EXPECT_EQ(family.error().code, ErrorCode::kInternal);
  }
  EXPECT_FALSE(BuildCounter().Name("udmg_ok").Help("h").Labels({{"__name__", "x"}})
                   .Register(registry).ok());
}

TEST(RegistryTest, CollectsFamiliesSortedByNameAndSeriesByLabels) {
  Registry registry;
  auto zeta = BuildGauge().Name("zeta").Help("z").Register(registry);
  auto alpha = BuildCounter().Name("alpha_total").Help("a").Labels({{"job", "sweep"}})
                   .Register(registry);
  ASSERT_TRUE(zeta.ok() && alpha.ok());
  (*zeta)->Add({});
  (*alpha)->Add({{"result", "migrated"}});
  (*alpha)->Add({{"result", "conflict"}});
  const std::vector<MetricFamily> families = registry.Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "alpha_total");
  EXPECT_EQ(families[1].name, "zeta");
  ASSERT_EQ(families[0].metric.size(), 2u);
  const auto& labels = families[0].metric[0].label;
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0].name, "job");  // constant and own labels merged, by name
  EXPECT_EQ(labels[1].value, "conflict");
  EXPECT_TRUE(registry.Remove(**zeta));
  EXPECT_EQ(registry.Collect().size(), 1u);
  Registry other;
  EXPECT_FALSE(other.Remove(**alpha));
}

// N threads updating one counter / histogram / gauge, with values exact in binary floating
// point, must add up exactly: no update may be lost without a lock.
TEST(ConcurrencyTest, TotalsAreExactUnderConcurrentUpdates) {
  Registry registry;
  auto counters = BuildCounter().Name("udmg_rows_total").Help("r").Register(registry);
  auto histograms = BuildHistogram().Name("udmg_d_seconds").Help("d").Register(registry);
  auto gauges = BuildGauge().Name("udmg_in_flight").Help("i").Register(registry);
  ASSERT_TRUE(counters.ok() && histograms.ok() && gauges.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread looks its series up itself: concurrent Add must agree on one object.
      Counter& counter = (*counters)->Add({{"result", "migrated"}});
      Histogram& histogram = (*histograms)->Add({}, Histogram::BucketBoundaries{0.25, 1});
      Gauge& gauge = (*gauges)->Add({});
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        histogram.Observe((i + t) % 2 == 0 ? 0.125 : 0.5);
        gauge.Increment();
        gauge.Decrement(0.5);
        if (i % 1000 == 0) registry.Collect();  // scrapes while updating
      }
    });
  }
  for (auto& thread : threads) thread.join();
  constexpr double kTotal = double{kThreads} * kPerThread;
  EXPECT_EQ((*counters)->Add({{"result", "migrated"}}).Value(), kTotal);
  EXPECT_EQ((*gauges)->Add({}).Value(), kTotal / 2);
  const auto histogram = (*histograms)->Add({}, Histogram::BucketBoundaries{0.25, 1})
                             .Collect().histogram;
  EXPECT_EQ(histogram.sample_count, static_cast<std::uint64_t>(kTotal));
  EXPECT_EQ(histogram.bucket[0].cumulative_count, static_cast<std::uint64_t>(kTotal / 2));
  EXPECT_EQ(histogram.bucket[1].cumulative_count, static_cast<std::uint64_t>(kTotal));
  EXPECT_EQ(histogram.sample_sum, kTotal / 2 * 0.125 + kTotal / 2 * 0.5);
}

}  // namespace
}  // namespace udmg::metrics
