// The job throttles an operator sets, through the binary (docs/reencryption.md, "Throttles"):
//  - a pause file holds the job at a batch boundary (it does not stop or exit) until it is
//    removed (also the job of `rotate-master-key --reencrypt`), and a stop file or the run time
//    still stop a job held by it;
//  - --critical-write-latency stops a job whose batch write is too slow (exit 10, resumable);
//  - --max-replica-lag is refused on SQLite before anything is written (the PostgreSQL case, with
//    a real standby, is in postgres_standby_test.cc).
// Every wait is for an event the job shows (its control socket's status, the database): no sleep
// stands in for one.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/db/postgres_test_database.h"
#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {
namespace {

using metrics::testing::PollUntil;

constexpr int kRows = 12;

class JobThrottlesTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  int Migrated() { return DemoValuesOnVersion(server_, 2); }

  // Waits until the running job says, on its control socket, that the pause file holds it and
  // that it has waited for it; a fatal failure (with the job's result) when the job ended first.
  // No value is on the job's `target` master version yet.
  void WaitUntilHeldByPauseFile(BackgroundProcess& job, int target = 2) {
    std::optional<nlohmann::json> status;
    ASSERT_TRUE(PollUntil([&] {
      status = JobControlStatus(server_);
      return (status && status->value("state", "") == "pause_file" &&
              (*status)["throttled_seconds"].value("pause_file", 0.0) > 0) ||
             !job.Running();
    }));
    ASSERT_TRUE(job.Running()) << job.Wait().Describe();
    EXPECT_EQ(status->value("hold", ""), "pause file " + pause_file_ + " exists") << *status;
    EXPECT_EQ(DemoValuesOnVersion(server_, target), 0)
        << "no batch starts while the pause file exists";
  }

  const std::string pause_file_ = (dir_.path() / "pause").string();
};

TEST_P(JobThrottlesTest, PauseFileHoldsTheJobUntilItIsRemovedThenTheJobFinishes) {
  ASSERT_TRUE(WriteFile(pause_file_, ""));
  const std::string textfile = (dir_.path() / "job.prom").string();
  auto job = server_.Start({"reencrypt", "--no-progress", "--batch-size", "2", "--pause-file",
                            pause_file_, "--metrics-textfile", textfile});
  ASSERT_NO_FATAL_FAILURE(WaitUntilHeldByPauseFile(*job));
  std::filesystem::remove(pause_file_);
  ProcessResult finished = job->Wait();
  EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
  const std::string metrics = ReadFile(textfile);
  EXPECT_GT(ThrottledSecondsIn(metrics, "pause_file"), 0) << metrics;
}

// The rotations' --reencrypt run the same job with the same flags.
TEST_P(JobThrottlesTest, PauseFileHoldsTheJobOfARotationToo) {
  ASSERT_TRUE(WriteFile(pause_file_, ""));
  auto job = server_.Start(
      {"rotate-master-key", "--reencrypt", "--no-progress", "--pause-file", pause_file_});
  ASSERT_NO_FATAL_FAILURE(WaitUntilHeldByPauseFile(*job, /*target=*/3));
  std::filesystem::remove(pause_file_);
  ProcessResult finished = job->Wait();
  EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
  EXPECT_EQ(DemoValuesOnVersion(server_, 3), kRows);
}

TEST_P(JobThrottlesTest, StopFileStillStopsAJobHeldByThePauseFile) {
  ASSERT_TRUE(WriteFile(pause_file_, ""));
  const std::string stop_file = (dir_.path() / "stop").string();
  auto job = server_.Start({"reencrypt", "--no-progress", "--pause-file", pause_file_,
                            "--stop-file", stop_file});
  ASSERT_NO_FATAL_FAILURE(WaitUntilHeldByPauseFile(*job));
  ASSERT_TRUE(WriteFile(stop_file, ""));
  ProcessResult stopped = job->Wait();
  ExpectOneErrorLine(stopped, kExitIncomplete);
  EXPECT_EQ(Migrated(), 0);
  std::filesystem::remove(stop_file);
  std::filesystem::remove(pause_file_);
  RunOk(server_, {"reencrypt", "--no-progress"});
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(JobThrottlesTest, RunTimeStillEndsAJobHeldByThePauseFile) {
  ASSERT_TRUE(WriteFile(pause_file_, ""));
  ProcessResult stopped = server_.Run(
      {"reencrypt", "--no-progress", "--pause-file", pause_file_, "--run-time", "1s"});
  EXPECT_FALSE(stopped.timed_out) << "the run time was not honoured while paused";
  ExpectOneErrorLine(stopped, kExitIncomplete);
  EXPECT_EQ(Migrated(), 0);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(JobThrottlesTest);

// A write made slow on purpose: a statement trigger that sleeps (PostgreSQL's pg_sleep; SQLite
// has no way to make a write slow from SQL alone, so this suite runs on PostgreSQL only).
class CriticalWriteLatencyTest : public JobThrottlesTest {
 protected:
  void SetUp() override {
    UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    JobThrottlesTest::SetUp();
  }
};

TEST_P(CriticalWriteLatencyTest, ASlowWriteStopsTheJobResumablyAndTheSameCommandFinishesIt) {
  server_.Exec(
      "CREATE FUNCTION slow_write() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$;"
      "CREATE TRIGGER slow_write AFTER UPDATE ON credentials FOR EACH STATEMENT "
      "EXECUTE FUNCTION slow_write();");
  const std::vector<std::string> command = {"reencrypt", "--no-progress", "--batch-size", "2",
                                            "--batches-in-flight", "1",
                                            "--critical-write-latency", "1s"};
  ProcessResult stopped = server_.Run(command);
  ExpectOneErrorLine(stopped, kExitIncomplete);
  EXPECT_NE(stopped.stderr_data.find("stopped at a batch boundary (a batch write took "),
            std::string::npos)
      << stopped.Describe();
  EXPECT_NE(stopped.stderr_data.find(", above --critical-write-latency 1.00 s) with its "
                                     "checkpoint saved: run the same command again to resume"),
            std::string::npos)
      << stopped.Describe();
  const int migrated = Migrated();
  EXPECT_GT(migrated, 0) << "the slow batch itself is committed";
  EXPECT_LT(migrated, kRows) << "the job went on after the slow write";
  // The load is gone: the same command resumes the job and finishes it.
  server_.Exec("DROP TRIGGER slow_write ON credentials;");
  ProcessResult resumed = server_.Run(command);
  EXPECT_TRUE(resumed.Exited(kExitOk)) << resumed.Describe();
  EXPECT_NE(resumed.stdout_data.find("(resumed)"), std::string::npos) << resumed.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

UDMG_INSTANTIATE_FOR_POSTGRES_ONLY(CriticalWriteLatencyTest);

// SQLite has no replicas: the flag is refused with one usage line, before the job (or the
// rotation it follows) writes anything.
TEST(MaxReplicaLagOnSqliteTest, IsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemoAndRotate(server, kRows));
  const std::string before = server.Dump();
  for (std::vector<std::string> args :
       {std::vector<std::string>{"reencrypt", "--max-replica-lag", "5s"},
        std::vector<std::string>{"rotate-master-key", "--reencrypt", "--max-replica-lag", "5s"}}) {
    ProcessResult refused = server.Run(args);
    ExpectOneErrorLine(refused, kExitUsage);
    EXPECT_NE(refused.stderr_data.find("--max-replica-lag needs a PostgreSQL database: SQLite "
                                       "has no replicas"),
              std::string::npos)
        << refused.Describe();
    ExpectDumpUnchanged(server, before, args[0] + " --max-replica-lag on SQLite");
  }
}

}  // namespace
}  // namespace udmg::testing
