// `--dry-run` of rotate-k0, rotate-master-key, reencrypt, sweep and prune-keys: each prints its
// plan (versions before and after, stale values per column, the job it would resume or create,
// an estimate) and exits 0, and the database is exactly as it was — the dump of every udmg table
// and the value tables, and the node registry too (a dry run does not record the node). And
// rotate-k0 --reencrypt with nothing to move says so instead of running an empty job.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 40;
constexpr int kBatch = 5;
constexpr char kTinyRate[] = "1e-6";  // the first batch at once, the next one never

class DryRunTest : public ServerTest {
 protected:
  std::string Nodes() const { return server_.Exec("SELECT * FROM udmg_nodes ORDER BY 1;"); }

  // Runs `args` (a dry run): exit 0, nothing changed; returns its stdout.
  std::string DryRun(const std::vector<std::string>& args) {
    SCOPED_TRACE(args.front());
    const std::string dump = server_.Dump();
    const std::string nodes = Nodes();
    ProcessResult result = RunOk(server_, args);
    ExpectDumpUnchanged(server_, dump, "after a dry run");
    EXPECT_EQ(Nodes(), nodes) << "a dry run recorded the node";
    EXPECT_TRUE(Contains(result.stdout_data, "dry run") ||
                Contains(result.stdout_data, "\"dry_run\": true"))
        << result.Describe();
    return result.stdout_data;
  }

  std::string NewKeyFile() {
    const std::filesystem::path key_file = dir_.path() / "new.key";
    EXPECT_TRUE(WriteFile(key_file, RandomKeyHex() + "\n"));
    return key_file.string();
  }
};

TEST_P(DryRunTest, EveryJobCommandPrintsItsPlanAndWritesNothing) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));  // 40 values on version 1, version 2 active

  std::string out = DryRun({"rotate-master-key", "--reencrypt", "--dry-run", "--rate", "100"});
  EXPECT_TRUE(Contains(out, "master key version: active 2 -> 3\n")) << out;
  EXPECT_TRUE(Contains(out, "root key version: current 1 -> 1\n")) << out;
  EXPECT_TRUE(Contains(out, "credentials.secret: 40 values not on master key version 3\n")) << out;
  EXPECT_TRUE(Contains(out, "job: would create a reencrypt job to master key version 3\n")) << out;
  // --rate 100: 40 values take at least 0.40 s, whatever the sample's pace.
  const size_t estimate = out.find("estimate: about ");
  ASSERT_NE(estimate, std::string::npos) << out;
  EXPECT_GE(std::stod(out.substr(estimate + 16)), 0.40) << out;
  EXPECT_TRUE(Contains(out, "(an estimate: 40 values read, decrypted and encrypted")) << out;

  out = DryRun({"rotate-master-key", "--dry-run"});
  EXPECT_TRUE(Contains(out, "40 values would be on older versions")) << out;
  EXPECT_FALSE(Contains(out, "job:")) << out;

  const std::string key_file = NewKeyFile();
  out = DryRun({"rotate-k0", "--new-key-file", key_file, "--reencrypt", "--dry-run"});
  EXPECT_TRUE(Contains(out, "master key version: active 2 -> 2\n")) << out;
  EXPECT_TRUE(Contains(out, "root key version: current 1 -> 2\n")) << out;
  EXPECT_TRUE(Contains(out, "credentials.secret: 40 values not on master key version 2\n")) << out;
  EXPECT_TRUE(Contains(out, "job: would create a reencrypt job to master key version 2\n")) << out;

  out = DryRun({"reencrypt", "--dry-run"});
  EXPECT_TRUE(Contains(out, "stale values: 40\n")) << out;
  EXPECT_TRUE(Contains(out, "job: would create a reencrypt job to master key version 2\n")) << out;

  out = DryRun({"sweep", "--dry-run", "--max-rows", "10"});
  EXPECT_TRUE(Contains(out, "stale values: 40 (this run would examine 10: --max-rows)\n")) << out;
  EXPECT_TRUE(Contains(out, "job: would create a sweep job to master key version 2\n")) << out;
}

TEST_P(DryRunTest, ARefusedRotationIsRefusedByItsDryRunToo) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  const std::string dump = server_.Dump();
  const std::filesystem::path same = dir_.path() / "same.key";
  ASSERT_TRUE(WriteFile(same, server_.root_key() + "\n"));
  ProcessResult reused =
      server_.Run({"rotate-k0", "--new-key-file", same.string(), "--dry-run"});
  ExpectOneErrorLine(reused, kExitBadKey);
  ExpectDumpUnchanged(server_, dump, "after a refused dry run");
}

TEST_P(DryRunTest, DryRunNamesTheInterruptedJobItWouldResume) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string dump = server_.Dump();
  ProcessResult nothing_to_resume = server_.Run({"reencrypt", "--resume", "--dry-run"});
  ExpectOneErrorLine(nothing_to_resume, kExitNotFound);
  ExpectDumpUnchanged(server_, dump, "after a refused dry run");

  ProcessResult stopped =
      server_.Run({"reencrypt", "--no-progress", "--batch-size", std::to_string(kBatch), "--rate",
                   kTinyRate, "--run-time", "1s"});
  ASSERT_TRUE(stopped.Exited(kExitIncomplete)) << stopped.Describe();

  std::optional<nlohmann::json> status = StatusJson(server_);
  ASSERT_TRUE(status);
  const int moved = ValuesByVersion(*status, "credentials", "secret")[2];
  ASSERT_GT(moved, 0);
  ASSERT_LT(moved, kRows);

  std::string out = DryRun({"reencrypt", "--resume", "--dry-run"});
  EXPECT_TRUE(Contains(out, "stale values: " + std::to_string(kRows - moved) + "\n")) << out;
  EXPECT_TRUE(Contains(out, "job: would resume reencrypt job 1 (stopped, target master key "
                            "version 2)\n"))
      << out;

  out = DryRun({"rotate-master-key", "--reencrypt", "--dry-run"});
  EXPECT_TRUE(Contains(out, "nothing would be rotated: would finish reencrypt job 1")) << out;
  EXPECT_TRUE(Contains(out, "master key version: active 2 -> 2\n")) << out;

  // Without --reencrypt the rotation is made (a leaked K1 never waits): the job is superseded.
  out = DryRun({"rotate-master-key", "--dry-run"});
  EXPECT_TRUE(Contains(out, "master key version: active 2 -> 3\n")) << out;
}

TEST_P(DryRunTest, PruneDryRunJsonListsWhatItWouldRetire) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  RunOk(server_, {"reencrypt", "--no-progress"});  // version 1 is now unused

  const std::string out = DryRun({"prune-keys", "--dry-run", "--json"});
  const nlohmann::json report = nlohmann::json::parse(out);
  EXPECT_EQ(report["dry_run"], true);
  EXPECT_EQ(report["would_retire"], nlohmann::json::array({1}));
  EXPECT_FALSE(report.contains("retired")) << out;

  const nlohmann::json done =
      nlohmann::json::parse(RunOk(server_, {"prune-keys", "--json"}).stdout_data);
  EXPECT_EQ(done["retired"], nlohmann::json::array({1}));
  EXPECT_FALSE(done.contains("would_retire"));
}

TEST_P(DryRunTest, RootRotationWithNothingToMoveSaysWhy) {
  ASSERT_TRUE(InitDemo(server_, kRows));  // every value on master version 1, the active one
  const std::string key_file = NewKeyFile();
  ProcessResult rotated = RunOk(server_, {"rotate-k0", "--new-key-file", key_file, "--reencrypt"});
  EXPECT_TRUE(Contains(rotated.stdout_data,
                       "nothing to re-encrypt: every value is already on master key version 1"))
      << rotated.Describe();
  EXPECT_FALSE(Contains(rotated.stderr_data, "0/? rows")) << rotated.Describe();
  EXPECT_FALSE(Contains(rotated.stdout_data, "migrated 0")) << rotated.Describe();
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_jobs;"), "0\n");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(DryRunTest);

}  // namespace
}  // namespace udmg::testing
