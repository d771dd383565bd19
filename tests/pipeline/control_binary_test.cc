// Live control and the run-time budget of the re-encryption job through the binary:
// a running `reencrypt` is driven with `udmg-server reencrypt --control ...` (rate, rate=,
// pause, status, resume, batch-size=) and its own status replies must follow; `--run-time` stops
// it at a batch boundary with exit 10. No assertion is on elapsed time: waits poll the job's
// status a bounded number of times, and a low --rate keeps the job running while it is driven.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 30000;
constexpr int kPollTries = 600;  // × kPollStep: a safety net against a hang, not a timing check
constexpr std::chrono::milliseconds kPollStep{50};

class ReencryptControlTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  // The job's reply to one control command, parsed; nullopt when the command failed.
  std::optional<nlohmann::json> Control(const std::string& command) {
    ProcessResult result = server_.Run(
        {"reencrypt", "--control", command, "--control-socket", socket_.string()});
    if (!result.Exited(0)) return std::nullopt;
    return nlohmann::json::parse(result.stdout_data);
  }

  // Sends `command` and expects a reply holding every field of `expected` with its value; the
  // reply, or null (with a failure recorded) when there is none.
  nlohmann::json ExpectReply(const std::string& command, const nlohmann::json& expected) {
    std::optional<nlohmann::json> reply = Control(command);
    if (!reply) {
      ADD_FAILURE() << "no reply to " << command;
      return nullptr;
    }
    for (const auto& [field, value] : expected.items()) {
      EXPECT_EQ((*reply)[field], value) << command << ": " << *reply;
    }
    return *reply;
  }

  // Polls `status` until `done_when` holds for a reply; the last reply, or nullopt after
  // kPollTries.
  std::optional<nlohmann::json> PollStatus(const std::function<bool(const nlohmann::json&)>& done_when) {
    for (int i = 0; i < kPollTries; ++i) {
      std::optional<nlohmann::json> status = Control("status");
      if (status && done_when(*status)) return status;
      std::this_thread::sleep_for(kPollStep);
    }
    return std::nullopt;
  }

  // Polls until two status replies in a row report the same `done`: the batches admitted before a
  // pause have committed. Returns that count, or -1 when it never settles.
  int64_t WaitUntilSettled() {
    int64_t previous = -1;
    for (int i = 0; i < kPollTries; ++i) {
      std::optional<nlohmann::json> status = Control("status");
      if (status) {
        int64_t done = (*status)["done"];
        if (done == previous) return done;
        previous = done;
      }
      std::this_thread::sleep_for(kPollStep * 4);
    }
    return -1;
  }

  std::filesystem::path socket_ = dir_.path() / "job.control";
};

TEST_P(ReencryptControlTest, RateBatchSizePauseAndResumeChangeTheRunningJob) {
  std::unique_ptr<BackgroundProcess> job =
      server_.Start({"reencrypt", "--rate", "2000", "--batch-size", "100", "--no-progress",
                     "--control-socket", socket_.string()});
  // The socket answers once the job runs, and the job has committed something.
  std::optional<nlohmann::json> status =
      PollStatus([](const nlohmann::json& s) { return s["done"].get<int64_t>() > 0; });
  ASSERT_TRUE(status.has_value()) << job->Wait().Describe();
  EXPECT_EQ((*status)["state"], "running");
  EXPECT_EQ((*status)["total"], kRows);
  EXPECT_EQ((*status)["rate"], 2000.0);
  EXPECT_EQ((*status)["batch_size"], 100);

  // A bare command shows the value and never resets it.
  EXPECT_FALSE(ExpectReply("rate", {{"rate", 2000.0}}).contains("previous"));
  ExpectReply("rate", {{"rate", 2000.0}});

  ExpectReply("rate=500", {{"rate", 500.0}, {"previous", 2000.0}});
  ExpectReply("status", {{"rate", 500.0}});

  ExpectReply("pause", {{"paused", true}});
  ExpectReply("status", {{"state", "paused"}});
  int64_t settled = WaitUntilSettled();
  ASSERT_GE(settled, 0);
  EXPECT_LT(settled, kRows);
  // Paused: however long we look, nothing moves and the job keeps running.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  nlohmann::json still = ExpectReply("status", {{"done", settled}});
  EXPECT_GT(still["throttled_seconds"]["paused"].get<double>(), 0.0) << still;
  EXPECT_TRUE(job->Running());

  ExpectReply("resume", {{"paused", false}});
  status = PollStatus([&](const nlohmann::json& s) { return s["done"].get<int64_t>() > settled; });
  ASSERT_TRUE(status.has_value()) << "the job did not move after resume";
  EXPECT_EQ((*status)["state"], "running");

  ExpectReply("batch-size=250", {{"batch_size", 250}, {"previous", 100}, {"adaptive", false}});
  EXPECT_FALSE(ExpectReply("batch-size", {{"batch_size", 250}}).contains("previous"));
  ExpectReply("status", {{"batch_size", 250}, {"rate", 500.0}});

  // A bad value is refused with a message, and changes nothing.
  ProcessResult refused = server_.Run(
      {"reencrypt", "--control", "rate=-1", "--control-socket", socket_.string()});
  ExpectOneErrorLine(refused, kExitBadInput);
  ExpectReply("rate", {{"rate", 500.0}});

  // Unlimited, so that it finishes now.
  ASSERT_TRUE(Control("rate=0").has_value());
  ProcessResult finished = job->Wait();
  ASSERT_TRUE(finished.Exited(0)) << finished.Describe();
  EXPECT_NE(finished.stdout_data.find(" done: migrated " + std::to_string(kRows)),
            std::string::npos)
      << finished.stdout_data;

  // Nothing listens any more; --status shows the finished job.
  ProcessResult gone = server_.Run(
      {"reencrypt", "--control", "status", "--control-socket", socket_.string()});
  EXPECT_TRUE(gone.Exited(6)) << gone.Describe();
  ProcessResult job_status = server_.Run({"reencrypt", "--status"});
  ASSERT_TRUE(job_status.Exited(0)) << job_status.Describe();
  EXPECT_NE(job_status.stdout_data.find("no unfinished reencrypt job"), std::string::npos)
      << job_status.stdout_data;
  EXPECT_NE(job_status.stdout_data.find("last finished reencrypt job"), std::string::npos)
      << job_status.stdout_data;
  EXPECT_NE(job_status.stdout_data.find("state done"), std::string::npos)
      << job_status.stdout_data;
  EXPECT_NE(job_status.stdout_data.find("migrated " + std::to_string(kRows) + ", conflicts 0"),
            std::string::npos)
      << job_status.stdout_data;
}

TEST_P(ReencryptControlTest, RunTimeStopsAtABatchBoundaryAndTheJobResumes) {
  // At 1000 rows/s the 30000 rows need far more than the 1 s budget, however fast the machine.
  ProcessResult stopped = server_.Run({"reencrypt", "--rate", "1000", "--batch-size", "100",
                                       "--run-time", "1s", "--no-progress"});
  ASSERT_TRUE(stopped.Exited(10)) << stopped.Describe();
  EXPECT_NE(stopped.stdout_data.find(" stopped: "), std::string::npos) << stopped.stdout_data;
  EXPECT_NE(stopped.stderr_data.find("run the same command again"), std::string::npos);

  ProcessResult status = server_.Run({"reencrypt", "--status"});
  ASSERT_TRUE(status.Exited(0)) << status.Describe();
  EXPECT_NE(status.stdout_data.find("unfinished reencrypt job"), std::string::npos);
  EXPECT_NE(status.stdout_data.find("state stopped"), std::string::npos) << status.stdout_data;
  EXPECT_NE(status.stdout_data.find("no finished reencrypt job"), std::string::npos)
      << status.stdout_data;

  ProcessResult resumed = server_.Run({"reencrypt", "--resume", "--no-progress"});
  ASSERT_TRUE(resumed.Exited(0)) << resumed.Describe();
  EXPECT_NE(resumed.stdout_data.find("(resumed)"), std::string::npos) << resumed.stdout_data;
  EXPECT_NE(resumed.stdout_data.find("remaining 0"), std::string::npos) << resumed.stdout_data;
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ReencryptControlTest);

}  // namespace
}  // namespace udmg::testing
