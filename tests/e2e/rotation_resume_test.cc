// A rotation with --reencrypt whose job was interrupted — by its run time, its stop file, SIGTERM
// or kill -9 — is finished by the same command run again, which rotates nothing more: in the end
// there is one new version, every value is on it and decrypts to what was stored
// (docs/reencryption.md, "An interrupted rotation"). A rotate-k0 given another new key while one
// is half done is refused and changes nothing.
//
// Each interrupted run moves its first batch and then waits on a tiny rate, so every interruption
// lands at a known place (during the job, after a committed batch) without any timing assumption.
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 40;
constexpr int kBatch = 5;
// The first batch is admitted at once, the next one would wait about a million seconds.
constexpr char kTinyRate[] = "1e-6";

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

class RotationResumeTest : public ServerTest {
 protected:
  // Values of the demo column on master key `version`.
  int OnVersion(int version) {
    std::optional<nlohmann::json> status = StatusJson(server_);
    if (!status) return -1;
    std::map<int, int> versions = ValuesByVersion(*status, "credentials", "secret");
    return versions.count(version) ? versions[version] : 0;
  }
  int Count(const std::string& sql) const { return std::stoi(server_.Exec(sql)); }

  // `rotation` (with --reencrypt) run with a tiny rate: it moves a first batch to `target`, then
  // is stopped by its run time, then by its stop file, SIGTERM and kill -9 once one more value is
  // in. Every run after the first must say that it rotated nothing.
  void InterruptEachWay(const std::vector<std::string>& rotation, int target) {
    const std::vector<std::string> slow = With(
        rotation, {"--no-progress", "--batch-size", std::to_string(kBatch), "--rate", kTinyRate});
    ProcessResult timed = server_.Run(With(slow, {"--run-time", "1s"}));
    EXPECT_TRUE(timed.Exited(kExitIncomplete)) << timed.Describe();
    EXPECT_TRUE(Contains(timed.stderr_data, "run the same command again")) << timed.Describe();

    const std::filesystem::path stop_file = dir_.path() / "stop";
    for (int signal : {0, SIGTERM, SIGKILL}) {  // 0: the stop file
      SCOPED_TRACE(signal == 0 ? "stop file" : signal == SIGTERM ? "SIGTERM" : "kill -9");
      const int before = OnVersion(target);
      auto job = server_.Start(With(slow, {"--stop-file", stop_file.string()}));
      ASSERT_TRUE(metrics::testing::PollUntil(
          [&] { return OnVersion(target) > before || !job->Running(); }));
      ASSERT_TRUE(job->Running()) << job->Wait().Describe();
      if (signal == 0) {
        ASSERT_TRUE(WriteFile(stop_file, ""));
      } else {
        ASSERT_TRUE(job->Kill(signal));
      }
      ProcessResult stopped = job->Wait();
      std::filesystem::remove(stop_file);
      if (signal == SIGKILL) {
        EXPECT_EQ(stopped.term_signal, SIGKILL) << stopped.Describe();
      } else {
        EXPECT_TRUE(stopped.Exited(kExitIncomplete)) << stopped.Describe();
        EXPECT_TRUE(Contains(stopped.stdout_data, "(resumed) to master key version " +
                                                      std::to_string(target)))
            << stopped.Describe();
      }
      EXPECT_TRUE(Contains(stopped.stdout_data, "nothing rotated")) << stopped.Describe();
    }
    ProcessResult finished = RunOk(server_, With(rotation, {"--no-progress"}));
    EXPECT_TRUE(Contains(finished.stdout_data, "nothing rotated")) << finished.Describe();
    EXPECT_TRUE(Contains(finished.stdout_data,
                         "(resumed) to master key version " + std::to_string(target) + " done"))
        << finished.Describe();
  }

  // One job in all, done: no run superseded it.
  void ExpectOneJobDone() {
    EXPECT_EQ(server_.Exec("SELECT state FROM udmg_jobs;"), "done\n");
  }
};

TEST_P(RotationResumeTest, InterruptedMasterRotationResumesInsteadOfRotatingAgain) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  InterruptEachWay({"rotate-master-key", "--reencrypt"}, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_master_keys;"), 2) << "a second rotation was made";
  ExpectOneJobDone();
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(RotationResumeTest, InterruptedRootRotationResumesInsteadOfRotatingAgain) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));  // every value waits on version 1
  const std::string new_key = RandomKeyHex();
  const std::filesystem::path key_file = dir_.path() / "new.key";
  ASSERT_TRUE(WriteFile(key_file, new_key + "\n"));
  InterruptEachWay({"rotate-k0", "--new-key-file", key_file.string(), "--reencrypt"}, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_root_keys;"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM udmg_master_keys;"), 2);
  ExpectOneJobDone();
  server_.set_root_key(new_key);
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(RotationResumeTest, AnotherNewKeyWhileARootRotationIsHalfDoneIsRefused) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string new_key = RandomKeyHex();
  const std::filesystem::path key_file = dir_.path() / "new.key";
  const std::filesystem::path other_file = dir_.path() / "other.key";
  ASSERT_TRUE(WriteFile(key_file, new_key + "\n"));
  ASSERT_TRUE(WriteFile(other_file, RandomKeyHex() + "\n"));
  const std::vector<std::string> rotation = {"rotate-k0", "--new-key-file", key_file.string(),
                                             "--reencrypt", "--no-progress"};
  ProcessResult timed = server_.Run(With(
      rotation, {"--batch-size", std::to_string(kBatch), "--rate", kTinyRate, "--run-time", "1s"}));
  ASSERT_TRUE(timed.Exited(kExitIncomplete)) << timed.Describe();

  const std::string before = server_.Dump();
  ProcessResult other = server_.Run(
      {"rotate-k0", "--new-key-file", other_file.string(), "--reencrypt", "--no-progress"});
  ExpectOneErrorLine(other, kExitWrongKey);
  EXPECT_TRUE(Contains(other.stderr_data, "is unfinished")) << other.Describe();
  EXPECT_TRUE(Contains(other.stderr_data, "run the same command with version 2's key"))
      << other.Describe();
  ExpectDumpUnchanged(server_, before, "a rotate-k0 with another key while one is half done");

  // Without --reencrypt the same command rotates nothing and says how to finish.
  ProcessResult plain = RunOk(server_, {"rotate-k0", "--new-key-file", key_file.string()});
  EXPECT_TRUE(Contains(plain.stdout_data, "nothing rotated")) << plain.Describe();
  EXPECT_TRUE(Contains(plain.stdout_data, "add --reencrypt")) << plain.Describe();
  ExpectDumpUnchanged(server_, before, "rotate-k0 run again without --reencrypt");

  RunOk(server_, rotation);
  ExpectOneJobDone();
  server_.set_root_key(new_key);
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(RotationResumeTest, MasterRotationAfterItsJobFinishedRotatesAgain) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
  ProcessResult again = RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
  EXPECT_TRUE(Contains(again.stdout_data, "master key rotated: version 3 is active"))
      << again.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RotationResumeTest);

}  // namespace
}  // namespace udmg::testing
