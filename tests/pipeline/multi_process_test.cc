// Several processes, one job, through the binary: `reencrypt --shared` processes
// against one database share the job by leasing key ranges; one killed with kill -9 mid-range
// leaves its range to be claimed again once its lease expires, and the others finish the job:
// one job, done once, every value migrated and every plaintext intact (checked by the
// independent Python implementation, tests/e2e/udmg_interop.py).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 6000;
constexpr int kRangeRows = 1000;  // 6 bounded ranges and the open-ended tail

class MultiProcessTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  // A shared job process with a control socket of its own (the default one is per database).
  std::vector<std::string> SharedCommand(const std::string& name,
                                         std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"reencrypt",   "--shared",
                                     "--lease",     "3s",
                                     "--range-rows", std::to_string(kRangeRows),
                                     "--no-progress", "--control-socket",
                                     (dir_.path() / (name + ".sock")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  int64_t Count(const std::string& sql) const {
    std::string out = server_.Exec(sql);
    return out.empty() ? -1 : std::stoll(out);
  }

  // Ranges held by `pid` (its owner name ends with ":<pid>") that have a checkpoint and are not
  // done: the process is in the middle of a range.
  std::string InProgressOf(pid_t pid) const {
    return "owner LIKE '%:" + std::to_string(pid) + "' AND checkpoint_key IS NOT NULL AND NOT done";
  }
  int64_t RangesInProgressOf(pid_t pid) const {
    return Count("SELECT count(*) FROM udmg_job_ranges WHERE " + InProgressOf(pid) + ";");
  }

  void ExpectOneJobDoneWithEveryRangeDone() {
    EXPECT_EQ(Count("SELECT count(*) FROM udmg_jobs;"), 1);
    EXPECT_EQ(Count("SELECT count(*) FROM udmg_jobs WHERE state = 'done';"), 1);
    EXPECT_EQ(Count("SELECT count(*) FROM udmg_job_ranges;"), kRows / kRangeRows + 1);
    EXPECT_EQ(Count("SELECT count(*) FROM udmg_job_ranges WHERE NOT done;"), 0);
  }

  TempDir dir_;
  UdmgServer server_{dir_.path()};
};

TEST_P(MultiProcessTest, ThreeProcessesOneKilledTheOthersReclaimItsRangeAndFinish) {
  // The victim is slow (100 rows/s: a range takes 10 s), so it is still inside its first range
  // when it is killed; the others are not throttled.
  std::unique_ptr<BackgroundProcess> victim =
      server_.Start(SharedCommand("victim", {"--rate", "100", "--batch-size", "20"}));
  // Waits until the victim has committed a batch inside its range (not a timing assertion: it
  // only decides when to start the others and send the signal).
  bool in_progress = false;
  for (int i = 0; i < 1200 && !in_progress; ++i) {
    in_progress = RangesInProgressOf(victim->pid()) == 1;
    if (!in_progress) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(in_progress) << victim->Wait(std::chrono::seconds(1)).Describe();
  // The victim keeps this range until it dies: a range is left only when it is done.
  int64_t victim_range =
      Count("SELECT position FROM udmg_job_ranges WHERE " + InProgressOf(victim->pid()) + ";");
  ASSERT_GE(victim_range, 0);

  StartGate gate;
  std::unique_ptr<BackgroundProcess> first = server_.Start(SharedCommand("first"), &gate);
  std::unique_ptr<BackgroundProcess> second = server_.Start(SharedCommand("second"), &gate);
  gate.Open();
  ASSERT_TRUE(victim->Kill(SIGKILL));
  ProcessResult killed = victim->Wait();
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.Describe();

  ProcessResult first_result = first->Wait();
  ProcessResult second_result = second->Wait();
  EXPECT_TRUE(first_result.Exited(0)) << first_result.Describe();
  EXPECT_TRUE(second_result.Exited(0)) << second_result.Describe();

  // The range the victim died in was claimed again once its lease (3 s, renewed per batch)
  // expired, and finished by another process.
  std::string victim_owner = "'%:" + std::to_string(victim->pid()) + "'";
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_job_ranges WHERE position = " +
                  std::to_string(victim_range) + " AND done AND owner NOT LIKE " + victim_owner +
                  ";"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_job_ranges WHERE owner LIKE " + victim_owner +
                  " AND NOT done;"),
            0);
  ExpectOneJobDoneWithEveryRangeDone();
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(MultiProcessTest, ProcessesStartedAtTheSameInstantJoinOneJob) {
  // Throttled (a range takes 2 s), so that no process can finish the table alone before the
  // others, released with it, claim ranges of their own.
  StartGate gate;
  std::vector<std::unique_ptr<BackgroundProcess>> processes;
  for (int i = 0; i < 3; ++i) {
    processes.push_back(server_.Start(
        SharedCommand("p" + std::to_string(i), {"--batch-size", "100", "--rate", "500"}), &gate));
  }
  gate.Open();
  for (auto& process : processes) {
    ProcessResult result = process->Wait();
    EXPECT_TRUE(result.Exited(0)) << result.Describe();
  }
  // One job split the table (a process that started after it ended would find nothing stale and
  // make a job of one empty range), every row was migrated once, and every job is done.
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_jobs;"), 1);
  EXPECT_EQ(Count("SELECT count(DISTINCT job_id) FROM udmg_job_ranges WHERE upper_key IS NOT "
                  "NULL;"),
            1);
  // They ran together: the ranges were finished by at least two of them.
  EXPECT_GE(Count("SELECT count(DISTINCT owner) FROM udmg_job_ranges;"), 2);
  EXPECT_EQ(Count("SELECT sum(migrated) FROM udmg_job_columns;"), kRows);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_jobs WHERE state <> 'done';"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_job_ranges WHERE NOT done;"), 0);
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(MultiProcessTest, ASharedJobRunAgainAfterItIsDoneFindsNothingToDo) {
  ProcessResult done = server_.Run(SharedCommand("once"));
  ASSERT_TRUE(done.Exited(0)) << done.Describe();
  ProcessResult again = server_.Run(SharedCommand("again"));
  EXPECT_TRUE(again.Exited(0)) << again.Describe();
  // A second job over a table with nothing stale: one range, done, and the job done.
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_jobs WHERE state = 'done';"), 2);
  ExpectDemoValuesMigrated(server_, kRows);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(MultiProcessTest);

}  // namespace
}  // namespace udmg::testing
