// Crash safety of the re-encryption job through the binary: kill -9 at 20 or
// more random instants, then the same command again, ends with every value migrated and every
// plaintext intact (checked by the independent Python implementation, tests/e2e/udmg_interop.py).
// Also SIGTERM and the stop file: stop at a batch boundary, exit 10, resume.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 20000;

// Each test runs on every backend (SQLite file, PostgreSQL schema): UdmgServer picks the database.
class ReencryptCrashTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  // Waits until the job has committed at least one batch (a row says so), so that a signal lands
  // mid-run. Not a timing assertion: it only decides when to send the signal.
  bool WaitForProgress() {
    for (int i = 0; i < 600; ++i) {
      std::string migrated = server_.Exec("SELECT coalesce(sum(migrated), 0) FROM udmg_job_columns c JOIN udmg_jobs j ON "
          "j.id = c.job_id WHERE j.state = 'running';");
      if (std::stoll(migrated.empty() ? "0" : migrated) > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  TempDir dir_;
  UdmgServer server_{dir_.path()};
};

TEST_P(ReencryptCrashTest, KillNineAtRandomInstantsThenTheSameCommandFinishes) {
  std::random_device device;
  unsigned seed = device();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_ms(0, 400);
  const std::vector<std::string> command = {"reencrypt", "--rate", "20000", "--batch-size",
                                            "100", "--no-progress"};
  int kills = 0;
  for (int round = 0; kills < 22 && round < 80; ++round) {
    std::unique_ptr<BackgroundProcess> job = server_.Start(command);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    job->Kill(SIGKILL);
    ProcessResult result = job->Wait();
    if (result.term_signal == SIGKILL) {
      ++kills;
    } else {
      // It finished before the kill: give it new work (another rotation) and go on killing.
      ASSERT_TRUE(result.Exited(0)) << result.Describe();
      ASSERT_TRUE(server_.Run({"rotate-master-key"}).Exited(0));
    }
  }
  ASSERT_GE(kills, 20);
  ProcessResult last = server_.Run({"reencrypt", "--no-progress"});
  ASSERT_TRUE(last.Exited(0)) << last.Describe();
  EXPECT_NE(last.stdout_data.find(" done: "), std::string::npos) << last.stdout_data;
  ExpectDemoValuesMigrated(server_, kRows);
  ProcessResult status = server_.Run({"reencrypt", "--status"});
  EXPECT_NE(status.stdout_data.find("no unfinished reencrypt job"), std::string::npos);
}

TEST_P(ReencryptCrashTest, SigtermStopsAtABatchBoundaryWithExitTenAndResumes) {
  std::unique_ptr<BackgroundProcess> job =
      server_.Start({"reencrypt", "--rate", "2000", "--batch-size", "100", "--no-progress"});
  ASSERT_TRUE(WaitForProgress());
  job->Kill(SIGTERM);
  ProcessResult stopped = job->Wait();
  ASSERT_TRUE(stopped.Exited(10)) << stopped.Describe();
  ASSERT_EQ(stopped.StderrLines().size(), 1u) << stopped.Describe();
  EXPECT_NE(stopped.stderr_data.find("run the same command again"), std::string::npos);
  EXPECT_NE(server_.Exec("SELECT state FROM udmg_jobs;").find("stopped"),
            std::string::npos);

  ProcessResult resumed = server_.Run({"reencrypt", "--resume", "--no-progress"});
  ASSERT_TRUE(resumed.Exited(0)) << resumed.Describe();
  EXPECT_NE(resumed.stdout_data.find("(resumed)"), std::string::npos) << resumed.stdout_data;
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(ReencryptCrashTest, StopFileStopsTheJob) {
  std::filesystem::path stop_file = dir_.path() / "stop";
  std::unique_ptr<BackgroundProcess> job =
      server_.Start({"reencrypt", "--rate", "2000", "--batch-size", "100", "--no-progress",
                     "--stop-file", stop_file.string()});
  ASSERT_TRUE(WaitForProgress());
  ASSERT_TRUE(WriteFile(stop_file, ""));
  ProcessResult stopped = job->Wait();
  ASSERT_TRUE(stopped.Exited(10)) << stopped.Describe();
  ProcessResult resumed = server_.Run({"reencrypt", "--no-progress"});
  ASSERT_TRUE(resumed.Exited(0)) << resumed.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(ReencryptCrashTest, ResumeWithoutAnInterruptedJobIsExitSix) {
  ProcessResult result = server_.Run({"reencrypt", "--resume"});
  EXPECT_TRUE(result.Exited(6)) << result.Describe();
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ReencryptCrashTest);

}  // namespace
}  // namespace udmg::testing
