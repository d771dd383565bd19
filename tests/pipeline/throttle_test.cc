// Throttle: token-bucket rate, adaptive batch size, latency pause, manual pause, live setters.
// Every test drives a ManualClock: nothing sleeps and nothing depends on wall time.
#include "pipeline/throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace udmg::pipeline {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

std::unique_ptr<Throttle> Make(const ThrottleOptions& options, Clock& clock) {
  auto throttle = Throttle::Create(options, clock);
  EXPECT_TRUE(throttle.ok()) << throttle.error().message;
  return std::move(throttle).value();
}

size_t IndexOf(ThrottleReason reason) { return static_cast<size_t>(reason); }

TEST(ThrottleOptionsTest, RefusesBadValuesWithUsageErrors) {
  ManualClock clock;
  auto bad = [&](ThrottleOptions o) {
    auto t = Throttle::Create(o, clock);
    EXPECT_FALSE(t.ok());
    if (!t.ok()) {
      EXPECT_EQ(t.error().code, ErrorCode::kUsage);
      EXPECT_EQ(t.error().message.find('\n'), std::string::npos);
    }
  };
  bad({.rows_per_second = -1});
  bad({.rows_per_second = std::numeric_limits<double>::infinity()});
  bad({.batch_size = 0});
  bad({.batch_size = kMaxBatchSize + 1});
  bad({.min_batch_size = 500, .max_batch_size = 100});
  bad({.target_batch_time = milliseconds(-1)});
  bad({.max_write_latency = milliseconds(-1)});
  bad({.latency_cooldown = Duration::zero()});
  EXPECT_TRUE(Throttle::Create({}, clock).ok());
}

TEST(ThrottleTest, UnlimitedAdmitsEverythingAtOnce) {
  ManualClock clock;
  auto t = Make({.batch_size = 700}, clock);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(t->TryAdmit(700).admitted);
  EXPECT_EQ(t->BatchSize(), 700u);
  EXPECT_EQ(t->Stats().total_throttled_seconds(), 0.0);
}

TEST(ThrottleTest, RateLimitHoldsTheLongRunRateExactly) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 1000, .batch_size = 1000}, clock);
  // Ten batches of 1000 rows at 1000 rows/s: the first starts at once, the tenth after 9 s.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t->WaitForAdmission(1000, nullptr));
  EXPECT_NEAR(Secs(clock.Now()), 9.0, 1e-6);
  ThrottleStats stats = t->Stats();
  EXPECT_NEAR(stats.throttled_seconds[IndexOf(ThrottleReason::kRate)], 9.0, 1e-6);
  EXPECT_EQ(stats.throttled_seconds[IndexOf(ThrottleReason::kPaused)], 0.0);
}

TEST(ThrottleTest, RateLimitWithOddBatchSizes) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 250}, clock);
  uint64_t rows = 0;
  while (rows < 10'000) {
    ASSERT_TRUE(t->WaitForAdmission(37, nullptr));
    rows += 37;
  }
  // The last batch was admitted once the ones before it were paid for.
  double expected = static_cast<double>(rows - 37) / 250;
  EXPECT_NEAR(Secs(clock.Now()), expected, 0.001);
}

TEST(ThrottleTest, NotAdmittedReportsRateAndTheWait) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 100}, clock);
  EXPECT_TRUE(t->TryAdmit(50).admitted);
  ThrottleDecision d = t->TryAdmit(50);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, ThrottleReason::kRate);
  EXPECT_NEAR(Secs(d.retry_after), 0.5, 1e-6);
  clock.Advance(milliseconds(499));
  EXPECT_FALSE(t->TryAdmit(50).admitted);
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(t->TryAdmit(50).admitted);
}

TEST(ThrottleTest, BurstAfterIdleIsBoundedToOneSecondOfRows) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 100}, clock);
  clock.Advance(seconds(3600));  // an hour idle earns one second's worth, not an hour's
  EXPECT_TRUE(t->TryAdmit(100).admitted);
  EXPECT_TRUE(t->TryAdmit(100).admitted);  // the bucket was at 0 again: one more may start
  EXPECT_FALSE(t->TryAdmit(100).admitted);
}

TEST(ThrottleTest, BatchSizeUnderARateIsAtMostOneSecondOfRows) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 120, .batch_size = 1000}, clock);
  EXPECT_EQ(t->BatchSize(), 120u);
  ASSERT_TRUE(t->SetRowsPerSecond(0.2).ok());
  EXPECT_EQ(t->BatchSize(), 1u);
  ASSERT_TRUE(t->SetRowsPerSecond(0).ok());
  EXPECT_EQ(t->BatchSize(), 1000u);
}

// Found by fuzz/control_command_fuzzer ("rate=2e66"): the batch size converted the rate to a
// size_t, undefined beyond 2^64 (UBSan); and rows / a tiny rate overflowed the nanoseconds owed.
TEST(ThrottleTest, HugeAndTinyRatesStayDefined) {
  ManualClock clock;
  auto t = Make({.batch_size = 1000}, clock);
  ASSERT_TRUE(t->SetRowsPerSecond(2e66).ok());
  EXPECT_EQ(t->BatchSize(), 1000u);
  EXPECT_EQ(t->Stats().batch_size, 1000u);
  EXPECT_TRUE(t->TryAdmit(1000).admitted);
  EXPECT_TRUE(t->TryAdmit(1000).admitted);  // 1000 rows at 2e66/s cost (next to) nothing

  ASSERT_TRUE(t->SetRowsPerSecond(1e-300).ok());
  EXPECT_EQ(t->BatchSize(), 1u);
  EXPECT_TRUE(t->TryAdmit(1).admitted);
  ThrottleDecision next = t->TryAdmit(1);
  EXPECT_FALSE(next.admitted);
  EXPECT_GT(Secs(next.retry_after), 99.0 * 365 * 24 * 3600);  // charged at most ~100 years,
  EXPECT_LT(Secs(next.retry_after), 101.0 * 365 * 24 * 3600);  // not a wrapped-around count
}

TEST(ThrottleTest, ManualPauseHoldsUntilResumeAndIsCountedAsPaused) {
  ManualClock clock;
  auto t = Make({}, clock);
  t->Pause();
  EXPECT_TRUE(t->Stats().paused);
  ThrottleDecision d = t->TryAdmit(10);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, ThrottleReason::kPaused);
  // Wait through 30 polls, then ask it to stop: not admitted, 3 s counted as paused.
  int polls = 0;
  EXPECT_FALSE(t->WaitForAdmission(10, [&] { return polls++ == 30; }));
  EXPECT_NEAR(t->Stats().throttled_seconds[IndexOf(ThrottleReason::kPaused)], 3.0, 1e-6);
  t->Resume();
  EXPECT_TRUE(t->TryAdmit(10).admitted);
  EXPECT_FALSE(t->Stats().paused);
}

TEST(ThrottleTest, AdmitNextBatchReturnsZeroWhenStoppedWhilePaused) {
  ManualClock clock;
  auto t = Make({.batch_size = 300}, clock);
  EXPECT_EQ(t->AdmitNextBatch(nullptr), 300u);
  t->Pause();
  std::atomic<bool> stop{true};
  EXPECT_EQ(t->AdmitNextBatch([&] { return stop.load(); }), 0u);
}

TEST(ThrottleTest, AdmitNextBatchReturnsZeroWhenStoppedBeforeAnAdmissionWithoutWait) {
  ManualClock clock;
  auto t = Make({.batch_size = 300}, clock);  // no rate, no pause: admitted at once
  EXPECT_EQ(t->AdmitNextBatch([] { return true; }), 0u);
  EXPECT_EQ(t->AdmitNextBatch([] { return false; }), 300u);
}

TEST(ThrottleTest, ResumeFromAnotherThreadEndsTheWait) {
  ManualClock clock;
  auto t = Make({}, clock);
  t->Pause();
  std::atomic<int> polls{0};
  std::thread waiter([&] { EXPECT_TRUE(t->WaitForAdmission(1, [&] { ++polls; return false; })); });
  while (polls.load() < 3) std::this_thread::yield();
  t->Resume();
  waiter.join();
  EXPECT_GE(t->Stats().throttled_seconds[IndexOf(ThrottleReason::kPaused)], 0.2);
}

TEST(ThrottleTest, SlowWritePausesUntilLatencyFallsBack) {
  ManualClock clock;
  auto t = Make({.max_write_latency = milliseconds(100), .latency_cooldown = seconds(5)}, clock);
  t->RecordBatchWrite(1000, milliseconds(100));  // at the bound: no pause
  EXPECT_TRUE(t->TryAdmit(1000).admitted);
  t->RecordBatchWrite(1000, milliseconds(250));
  ThrottleDecision d = t->TryAdmit(1000);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, ThrottleReason::kLatency);
  EXPECT_EQ(d.retry_after, seconds(5));
  EXPECT_TRUE(t->Stats().latency_paused);
  // A batch still in flight comes back fast: the pause ends at once.
  t->RecordBatchWrite(1000, milliseconds(40));
  EXPECT_TRUE(t->TryAdmit(1000).admitted);
  EXPECT_EQ(t->Stats().latency_pauses, 1u);
}

TEST(ThrottleTest, LatencyPauseEndsAfterTheCoolDownAndIsCounted) {
  ManualClock clock;
  auto t = Make({.max_write_latency = milliseconds(100), .latency_cooldown = seconds(2)}, clock);
  t->RecordBatchWrite(10, seconds(1));
  ASSERT_TRUE(t->WaitForAdmission(10, nullptr));  // probes again after the cool-down
  EXPECT_NEAR(Secs(clock.Now()), 2.0, 1e-6);
  ThrottleStats stats = t->Stats();
  EXPECT_NEAR(stats.throttled_seconds[IndexOf(ThrottleReason::kLatency)], 2.0, 1e-6);
  EXPECT_FALSE(stats.latency_paused);
  // Still slow: a new pause from the time of that write.
  t->RecordBatchWrite(10, seconds(1));
  EXPECT_FALSE(t->TryAdmit(10).admitted);
  EXPECT_EQ(t->Stats().latency_pauses, 2u);
}

TEST(ThrottleTest, NoLatencyBoundMeansNoPause) {
  ManualClock clock;
  auto t = Make({}, clock);
  t->RecordBatchWrite(10, seconds(60));
  EXPECT_TRUE(t->TryAdmit(10).admitted);
  EXPECT_EQ(t->Stats().last_write_time, seconds(60));
}

TEST(ThrottleTest, AdaptiveSizeShrinksAndGrowsByBoundedSteps) {
  ManualClock clock;
  auto t = Make({.batch_size = 1000, .min_batch_size = 100, .max_batch_size = 5000,
                 .target_batch_time = milliseconds(100)},
                clock);
  EXPECT_TRUE(t->Stats().adaptive);
  t->RecordBatchWrite(1000, milliseconds(400));  // 4x too slow: shrink, but by 1.5x at most
  EXPECT_EQ(t->BatchSize(), 667u);
  t->RecordBatchWrite(667, milliseconds(105));  // within 10% of the target: leave it
  EXPECT_EQ(t->BatchSize(), 667u);
  t->RecordBatchWrite(667, milliseconds(80));  // 1.25x faster than needed: grow by 1.25
  EXPECT_EQ(t->BatchSize(), 834u);
  for (int i = 0; i < 20; ++i) t->RecordBatchWrite(t->BatchSize(), milliseconds(1));
  EXPECT_EQ(t->BatchSize(), 5000u);  // clamped to the maximum
  for (int i = 0; i < 20; ++i) t->RecordBatchWrite(t->BatchSize(), seconds(10));
  EXPECT_EQ(t->BatchSize(), 100u);  // clamped to the minimum
  t->RecordBatchWrite(100, Duration::zero());  // too fast to measure: grow one step
  EXPECT_EQ(t->BatchSize(), 150u);
}

TEST(ThrottleTest, AdaptiveSizeConvergesOnTheTarget) {
  ManualClock clock;
  auto t = Make({.batch_size = 200, .target_batch_time = milliseconds(50)}, clock);
  // A database that writes 20 µs per row: 2500 rows take the target 50 ms.
  for (int i = 0; i < 30; ++i) {
    size_t rows = t->BatchSize();
    t->RecordBatchWrite(rows, std::chrono::microseconds(20) * rows);
  }
  EXPECT_NEAR(static_cast<double>(t->BatchSize()), 2500, 250);
}

TEST(ThrottleTest, AdaptiveScalesByRowsOfTheBatchReported) {
  ManualClock clock;
  auto t = Make({.batch_size = 1000, .target_batch_time = milliseconds(100)}, clock);
  // A batch of 500 rows fetched earlier took 50 ms: 1000 rows would take the target.
  t->RecordBatchWrite(500, milliseconds(50));
  EXPECT_EQ(t->BatchSize(), 1000u);
}

TEST(ThrottleTest, ExplicitBatchSizeWinsOverAdaptiveSizing) {
  ManualClock clock;
  auto t = Make({.batch_size = 1000, .target_batch_time = milliseconds(100)}, clock);
  auto previous = t->SetBatchSize(2000);
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(*previous, 1000u);
  t->RecordBatchWrite(2000, seconds(5));
  EXPECT_EQ(t->BatchSize(), 2000u);
  EXPECT_FALSE(t->Stats().adaptive);
}

TEST(ThrottleTest, LiveSettersRefuseBadValuesAndKeepTheOldOnes) {
  ManualClock clock;
  auto t = Make({.rows_per_second = 10, .batch_size = 10}, clock);
  for (double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    auto r = t->SetRowsPerSecond(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kBadInput);
  }
  EXPECT_FALSE(t->SetBatchSize(0).ok());
  EXPECT_FALSE(t->SetBatchSize(kMaxBatchSize + 1).ok());
  ThrottleStats stats = t->Stats();
  EXPECT_EQ(stats.rows_per_second, 10);
  EXPECT_EQ(stats.batch_size, 10u);
}

TEST(ThrottleTest, RateChangeTakesEffectAtOnce) {
  ManualClock clock;
  auto t = Make({}, clock);
  EXPECT_TRUE(t->TryAdmit(100).admitted);
  auto previous = t->SetRowsPerSecond(50);
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(*previous, 0);
  EXPECT_TRUE(t->TryAdmit(100).admitted);  // a fresh bucket: one batch, then 2 s owed
  EXPECT_EQ(t->TryAdmit(100).retry_after, seconds(2));
  // Sending the same rate again does not forgive what is owed.
  ASSERT_TRUE(t->SetRowsPerSecond(50).ok());
  EXPECT_EQ(t->TryAdmit(100).retry_after, seconds(2));
  // Doubling the rate halves the wait.
  ASSERT_TRUE(t->SetRowsPerSecond(100).ok());
  EXPECT_EQ(t->TryAdmit(100).retry_after, seconds(1));
  ASSERT_TRUE(t->SetRowsPerSecond(0).ok());
  EXPECT_TRUE(t->TryAdmit(100).admitted);
}

TEST(ThrottleTest, ConcurrentCallersShareOneBucket) {
  ManualClock clock;  // never advanced: exactly one batch can be admitted
  auto t = Make({.rows_per_second = 10}, clock);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) {
        if (t->TryAdmit(5).admitted) ++admitted;
        t->RecordBatchWrite(5, milliseconds(1));
        (void)t->Stats();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), 1);
}

TEST(ThrottleTest, ReasonNames) {
  EXPECT_EQ(ThrottleReasonName(ThrottleReason::kRate), "rate");
  EXPECT_EQ(ThrottleReasonName(ThrottleReason::kLatency), "latency");
  EXPECT_EQ(ThrottleReasonName(ThrottleReason::kPaused), "paused");
}

// A gate whose answer the test sets.
class FlagGate final : public ThrottleGate {
 public:
  explicit FlagGate(std::optional<std::string>* hold) : hold_(hold) {}
  ThrottleReason reason() const override { return ThrottleReason::kPauseFile; }
  std::optional<std::string> Hold() override { return *hold_; }

 private:
  std::optional<std::string>* hold_;
};

TEST(ThrottleTest, GateHoldsBatchesWhileItHoldsAndTheWaitIsCountedByItsReason) {
  ManualClock clock;
  auto t = Make({}, clock);
  std::optional<std::string> hold = "pause file /x exists";
  t->AddGate(std::make_unique<FlagGate>(&hold));
  ThrottleDecision d = t->TryAdmit(10);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, ThrottleReason::kPauseFile);
  ThrottleStats stats = t->Stats();
  EXPECT_EQ(stats.hold, "pause file /x exists");
  EXPECT_EQ(stats.hold_reason, ThrottleReason::kPauseFile);
  EXPECT_FALSE(stats.paused) << "a gate is not the manual pause";
  // Released after three polls: the wait is counted as pause_file time, nothing else.
  int polls = 0;
  EXPECT_TRUE(t->WaitForAdmission(10, [&] {
    if (++polls == 3) hold.reset();
    return false;
  }));
  stats = t->Stats();
  EXPECT_FALSE(stats.hold);
  EXPECT_NEAR(stats.throttled_seconds[IndexOf(ThrottleReason::kPauseFile)],
              3 * Secs(Throttle::kPollInterval), 1e-6);
  EXPECT_EQ(stats.total_throttled_seconds(),
            stats.throttled_seconds[IndexOf(ThrottleReason::kPauseFile)]);
  EXPECT_EQ(ThrottleReasonName(ThrottleReason::kPauseFile), "pause_file");
  EXPECT_EQ(ThrottleReasonName(ThrottleReason::kReplicaLag), "replica_lag");
}

TEST(ThrottleTest, StopRequestEndsAGateHold) {
  ManualClock clock;
  auto t = Make({}, clock);
  std::optional<std::string> hold = "held";
  t->AddGate(std::make_unique<FlagGate>(&hold));
  EXPECT_EQ(t->AdmitNextBatch([] { return true; }), 0u);
}

TEST(ThrottleTest, CriticalWriteLatencyStopsAtTheNextBatchAndSaysWhy) {
  ManualClock clock;
  auto t = Make({.critical_write_latency = seconds(1)}, clock);
  t->RecordBatchWrite(10, seconds(1));  // at the bound: goes on
  EXPECT_EQ(t->AdmitNextBatch(nullptr), 1000u);
  EXPECT_FALSE(t->Stats().stop_reason);
  t->RecordBatchWrite(10, milliseconds(2500));
  EXPECT_EQ(t->AdmitNextBatch(nullptr), 0u) << "0 = stop at this batch boundary";
  ASSERT_TRUE(t->Stats().stop_reason);
  EXPECT_EQ(t->Stats().stop_reason->message,
            "a batch write took 2.50 s, above the critical write latency 1.00 s");
  EXPECT_EQ(t->Stats().stop_reason->setting, "critical_write_latency") << "the CLI names its flag";
  // A fast write afterwards does not undo the stop.
  t->RecordBatchWrite(10, milliseconds(1));
  EXPECT_EQ(t->AdmitNextBatch(nullptr), 0u);
}

TEST(ThrottleOptionsTest, NegativeCriticalWriteLatencyIsAUsageError) {
  ManualClock clock;
  auto t = Throttle::Create({.critical_write_latency = milliseconds(-1)}, clock);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kUsage);
}

}  // namespace
}  // namespace udmg::pipeline
