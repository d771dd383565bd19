// A job waiting on its rate limit still stops for its run-time budget, its stop file and a signal
// (docs/throttle-and-control.md: stops are checked at least every 100 ms during a wait). With
// --rate 1e-6 the second batch would wait for about eleven days: the job can only end by
// honouring the stop, so each test checks the outcome (exit 10, one batch done, resumable) and
// never a duration. A job that ignores the stop is killed by the runner's watchdog and fails.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 20;
// The first batch is admitted at once (a rate earns its first second of credit), then the next
// waits for about a million seconds.
constexpr char kTinyRate[] = "1e-6";

class RateWaitStopTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  int Migrated() { return DemoValuesOnVersion(server_, 2); }

  // The stopped job did some work, left the rest, and the next run finishes it.
  void ExpectStoppedThenResumable(const ProcessResult& stopped) {
    EXPECT_FALSE(stopped.timed_out) << "the stop was not honoured during the rate wait";
    EXPECT_TRUE(stopped.Exited(kExitIncomplete)) << stopped.Describe();
    const int migrated = Migrated();
    EXPECT_GT(migrated, 0) << "the first batch is admitted at once";
    EXPECT_LT(migrated, kRows) << "the rate wait was skipped";
    RunOk(server_, {"reencrypt", "--no-progress"});
    ExpectDemoValuesMigrated(server_, kRows);
  }
};

TEST_P(RateWaitStopTest, RunTimeEndsATinyRateWait) {
  ProcessResult result = server_.Run(
      {"reencrypt", "--no-progress", "--batch-size", "1", "--rate", kTinyRate, "--run-time", "1s"});
  ExpectStoppedThenResumable(result);
}

TEST_P(RateWaitStopTest, StopFileEndsATinyRateWait) {
  // The file appears once the first batch is in, while the job waits for the second.
  const std::string stop_file = (dir_.path() / "stop").string();
  auto job = server_.Start({"reencrypt", "--no-progress", "--batch-size", "1", "--rate",
                            kTinyRate, "--stop-file", stop_file});
  ASSERT_TRUE(metrics::testing::PollUntil([&] { return Migrated() > 0 || !job->Running(); }));
  ASSERT_TRUE(job->Running()) << job->Wait().Describe();
  ASSERT_TRUE(WriteFile(stop_file, ""));
  ExpectStoppedThenResumable(job->Wait());
}

TEST_P(RateWaitStopTest, SigtermEndsATinyRateWait) {
  auto job = server_.Start(
      {"reencrypt", "--no-progress", "--batch-size", "1", "--rate", kTinyRate});
  ASSERT_TRUE(metrics::testing::PollUntil([&] { return Migrated() > 0 || !job->Running(); }));
  ASSERT_TRUE(job->Running()) << job->Wait().Describe();
  job->Kill(SIGTERM);
  ExpectStoppedThenResumable(job->Wait());
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RateWaitStopTest);

}  // namespace
}  // namespace udmg::testing
