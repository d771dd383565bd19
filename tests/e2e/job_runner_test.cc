// Every job command runs in the same job runner (pipeline/job_runner.h): each option and signal of
// the runner, tried on each job kind (`reencrypt` and `sweep`) on both backends, through the
// binary. A stop (signal, stop file, run time) ends the job at a batch boundary with exit 10, its
// summary printed and the metrics textfile written with the state "stopped"; the same command
// then resumes and finishes it. Every wait is for an event the job shows (its control socket's
// status): no sleep stands in for one.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/db/store_test_support.h"
#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {
namespace {

using metrics::testing::PollUntil;

constexpr int kRows = 12;

// The job kinds the runner runs, with what their summary line (stdout) says when a stop request
// (signal, stop file) or the run time ended them.
struct JobKind {
  std::string command;
  std::string stopped_summary;
  std::string run_time_summary;
};

const std::vector<JobKind>& JobKinds() {
  static const std::vector<JobKind> kinds = {
      {"reencrypt", " to master key version 2 stopped: migrated ",
       " to master key version 2 stopped: migrated "},
      {"sweep", "sweep to master key version 2 stopped: migrated ",
       "sweep to master key version 2 run-time: migrated "},
  };
  return kinds;
}

// One database with kRows values stale under master key version 1, for one job kind.
class JobUnderTest {
 public:
  explicit JobUnderTest(JobKind kind) : kind_(std::move(kind)) {
    EXPECT_TRUE(InitDemoAndRotate(server_, kRows));
  }

  std::vector<std::string> Command(std::vector<std::string> args) const {
    args.insert(args.begin(), {kind_.command, "--no-progress"});
    return args;
  }
  std::unique_ptr<BackgroundProcess> Start(std::vector<std::string> args) {
    return server_.Start(Command(std::move(args)));
  }
  ProcessResult Run(std::vector<std::string> args) { return server_.Run(Command(std::move(args))); }

  // `<kind> --control LINE` against the running job, parsed; nullopt while no job answers.
  std::optional<nlohmann::json> Control(const std::string& line) {
    ProcessResult result = server_.Run({kind_.command, "--control", line});
    if (!result.Exited(kExitOk)) return std::nullopt;
    nlohmann::json reply = nlohmann::json::parse(result.stdout_data, nullptr, false);
    if (reply.is_discarded()) return std::nullopt;
    return reply;
  }

  // Waits until the job answers `status` on its control socket and `ready` holds for the reply;
  // a fatal failure (with the job's result) when the job ended first.
  void WaitForStatus(BackgroundProcess& job,
                     const std::function<bool(const nlohmann::json&)>& ready) {
    std::optional<nlohmann::json> status;
    ASSERT_TRUE(PollUntil([&] {
      status = Control("status");
      return (status && ready(*status)) || !job.Running();
    }));
    ASSERT_TRUE(job.Running()) << job.Wait().Describe();
  }

  // Starts the job slowed down to a batch of one row a second (so it cannot finish while the test
  // stops it) and waits until it answers on its control socket: its stop handlers are installed.
  std::unique_ptr<BackgroundProcess> StartSlowJob(std::vector<std::string> args) {
    args.insert(args.end(), {"--rate", "1", "--batch-size", "1"});
    std::unique_ptr<BackgroundProcess> job = Start(std::move(args));
    WaitForStatus(*job, [](const nlohmann::json& status) { return status.value("ok", false); });
    return job;
  }

  // The stopped job's end: exit 10, one error line, `summary` on stdout, the textfile's state.
  void ExpectStopped(const ProcessResult& stopped, const std::string& summary) {
    ExpectOneErrorLine(stopped, kExitIncomplete);
    EXPECT_NE(stopped.stdout_data.find(summary), std::string::npos)
        << stopped.Describe();
    const std::string metrics = ReadFile(textfile());
    EXPECT_NE(metrics.find("udmg_reencrypt_job_state{job=\"" + kind_.command +
                           "\",state=\"stopped\"} 1"),
              std::string::npos)
        << metrics;
  }

  // The same command without the stop resumes the job and finishes it.
  void ExpectTheNextRunFinishes() {
    ProcessResult finished = Run({});
    EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
    ExpectDemoValuesMigrated(server_, kRows);
  }

  int Migrated() const { return DemoValuesOnVersion(server_, 2); }
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }
  // Where the job writes its metrics when given --metrics-textfile, as ExpectStopped reads them.
  std::string textfile() const { return Path("job.prom"); }

 private:
  JobKind kind_;
  TempDir dir_;
  UdmgServer server_{dir_.path()};
};

class JobRunnerTest : public ::testing::TestWithParam<db::testing::StoreBackend> {};

// SIGTERM (systemd's stop) and SIGINT (Ctrl-C) stop the job at a batch boundary.
TEST_P(JobRunnerTest, SignalsStopTheJobWithItsSummaryAndMetricsAndTheNextRunResumes) {
  for (const JobKind& kind : JobKinds()) {
    for (int signal : {SIGTERM, SIGINT}) {
      SCOPED_TRACE(kind.command + " signal " + std::to_string(signal));
      JobUnderTest job(kind);
      std::unique_ptr<BackgroundProcess> running;
      ASSERT_NO_FATAL_FAILURE(running = job.StartSlowJob({"--metrics-textfile", job.textfile()}));
      ASSERT_TRUE(running->Kill(signal));
      ProcessResult stopped = running->Wait();
      EXPECT_FALSE(stopped.timed_out) << stopped.Describe();
      job.ExpectStopped(stopped, kind.stopped_summary);
      EXPECT_LT(job.Migrated(), kRows);
      job.ExpectTheNextRunFinishes();
    }
  }
}

TEST_P(JobRunnerTest, StopFileStopsTheJob) {
  for (const JobKind& kind : JobKinds()) {
    SCOPED_TRACE(kind.command);
    JobUnderTest job(kind);
    const std::string stop_file = job.Path("stop");
    std::unique_ptr<BackgroundProcess> running;
    ASSERT_NO_FATAL_FAILURE(running = job.StartSlowJob(
                                {"--stop-file", stop_file, "--metrics-textfile", job.textfile()}));
    ASSERT_TRUE(WriteFile(stop_file, ""));
    ProcessResult stopped = running->Wait();
    job.ExpectStopped(stopped, kind.stopped_summary);
    std::filesystem::remove(stop_file);
    job.ExpectTheNextRunFinishes();
  }
}

// A stop file that exists before the job starts stops it before its first batch: nothing is
// migrated, although the throttle would admit that batch at once (a small table is one batch).
TEST_P(JobRunnerTest, StopFileThatAlreadyExistsStopsTheJobBeforeItsFirstBatch) {
  for (const JobKind& kind : JobKinds()) {
    SCOPED_TRACE(kind.command);
    JobUnderTest job(kind);
    const std::string stop_file = job.Path("stop");
    ASSERT_TRUE(WriteFile(stop_file, ""));
    ProcessResult stopped =
        job.Run({"--stop-file", stop_file, "--metrics-textfile", job.textfile()});
    job.ExpectStopped(stopped, kind.stopped_summary);
    EXPECT_EQ(job.Migrated(), 0) << "no batch starts while the stop file exists";
    std::filesystem::remove(stop_file);
    job.ExpectTheNextRunFinishes();
  }
}

// The pause file holds the job (its control status says so) until it is removed.
TEST_P(JobRunnerTest, PauseFileHoldsTheJobUntilItIsRemoved) {
  for (const JobKind& kind : JobKinds()) {
    SCOPED_TRACE(kind.command);
    JobUnderTest job(kind);
    const std::string pause_file = job.Path("pause");
    ASSERT_TRUE(WriteFile(pause_file, ""));
    auto held = job.Start({"--batch-size", "2", "--pause-file", pause_file});
    ASSERT_NO_FATAL_FAILURE(job.WaitForStatus(*held, [](const nlohmann::json& status) {
      return status.value("state", "") == "pause_file";
    }));
    EXPECT_EQ(job.Migrated(), 0) << "no batch starts while the pause file exists";
    std::filesystem::remove(pause_file);
    ProcessResult finished = held->Wait();
    EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
    EXPECT_EQ(job.Migrated(), kRows);
  }
}

// The run time ends a job that cannot finish in it (held by the pause file here).
TEST_P(JobRunnerTest, RunTimeStopsTheJob) {
  for (const JobKind& kind : JobKinds()) {
    SCOPED_TRACE(kind.command);
    JobUnderTest job(kind);
    const std::string pause_file = job.Path("pause");
    ASSERT_TRUE(WriteFile(pause_file, ""));
    ProcessResult stopped = job.Run(
        {"--pause-file", pause_file, "--run-time", "1s", "--metrics-textfile", job.textfile()});
    EXPECT_FALSE(stopped.timed_out) << "the run time was not honoured";
    job.ExpectStopped(stopped, kind.run_time_summary);
    EXPECT_EQ(job.Migrated(), 0);
    std::filesystem::remove(pause_file);
    job.ExpectTheNextRunFinishes();
  }
}

// --rate throttles the job; the control socket reports it and changes it live.
TEST_P(JobRunnerTest, RateThrottlesTheJobAndTheControlSocketLiftsIt) {
  for (const JobKind& kind : JobKinds()) {
    SCOPED_TRACE(kind.command);
    JobUnderTest job(kind);
    auto running = job.Start({"--rate", "1", "--batch-size", "1"});
    ASSERT_NO_FATAL_FAILURE(job.WaitForStatus(*running, [](const nlohmann::json& status) {
      return status.value("rate", 0.0) == 1.0 &&
             status["throttled_seconds"].value("rate", 0.0) > 0;
    }));
    EXPECT_LT(job.Migrated(), kRows);
    std::optional<nlohmann::json> lifted = job.Control("rate=0");
    ASSERT_TRUE(lifted) << "the job did not answer rate=0";
    EXPECT_EQ(lifted->value("rate", -1.0), 0.0) << *lifted;
    ProcessResult finished = running->Wait();
    EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
    EXPECT_EQ(job.Migrated(), kRows);
  }
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(JobRunnerTest);

}  // namespace
}  // namespace udmg::testing
