// retire-key end to end on every backend (docs/security.md, "Retiring a compromised version"):
// a version is retired once its values are moved and a full count finds none, the active one is
// rotated away first; --now retires at once, only when confirmed, after printing how many values
// become unreadable, and those values are then reported as retired_version; refusals change
// nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

constexpr int kRows = 5;

class RetireTest : public ServerTest {
 protected:
  std::string MasterState(int version) {
    std::optional<json> status = StatusJson(server_);
    if (!status) return "";
    for (const json& master : (*status)["master_keys"]) {
      if (master["version"] == version) return master["state"];
    }
    return "missing";
  }

  json LastAuditEntry() {
    json entries = json::parse(RunOk(server_, {"audit", "list", "--json"}).stdout_data)["entries"];
    return entries.empty() ? json() : entries.back();
  }

  std::string StoredSecrets() {
    return server_.Exec("SELECT secret FROM credentials ORDER BY id;");
  }
};

TEST_P(RetireTest, ADecryptOnlyVersionIsRetiredOnceItsValuesAreMoved) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  ProcessResult retired = RunOk(server_, {"retire-key", "1", "--no-progress"});
  for (const char* said :
       {"master key version 1 is decrypt_only: no process encrypts under it\n",
        "5 values are under master key version 1 (credentials.secret: 5): re-encrypting them to "
        "version 2 now\n",
        "master key version 1 retired: a full count found no value under it; no process decrypts "
        "under it any more\n"}) {
    EXPECT_TRUE(Contains(retired.stdout_data, said)) << retired.Describe();
  }
  EXPECT_EQ(MasterState(1), "retired");
  EXPECT_EQ(DemoValuesOnVersion(server_, 2), kRows);
  EXPECT_FALSE(RunOk(server_, {"secret", "get", "credentials.secret", "1"}).stdout_data.empty());

  const json entry = LastAuditEntry();
  EXPECT_EQ(entry["command"], "udmg-server retire-key");
  EXPECT_EQ(entry["event"], "retire");
  EXPECT_EQ(entry["detail"], "retired master version 1");
  RunOk(server_, {"audit", "verify"});
  const json report = json::parse(RunOk(server_, {"report", "--json"}).stdout_data);
  EXPECT_EQ(report["master_keys"][0]["retired_by"]["command"], "udmg-server retire-key");
  EXPECT_TRUE(report["master_keys"][1]["retired_by"].is_null());

  // Again: nothing to do, nothing written.
  const std::string before = server_.Dump();
  EXPECT_EQ(RunOk(server_, {"retire-key", "1"}).stdout_data,
            "master key version 1 is already retired\n");
  ExpectDumpUnchanged(server_, before, "retire-key of a retired version");
}

TEST_P(RetireTest, TheActiveVersionIsRotatedAwayFirst) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  ProcessResult retired = RunOk(server_, {"retire-key", "1", "--no-progress"});
  EXPECT_EQ(retired.stdout_data.rfind("master key rotated: version 2 is active, master key "
                                      "version 1 is decrypt_only: no process encrypts under it "
                                      "any more\n",
                                      0),
            0u)
      << retired.Describe();
  EXPECT_EQ(MasterState(1), "retired");
  EXPECT_EQ(MasterState(2), "active");
  EXPECT_EQ(DemoValuesOnVersion(server_, 2), kRows);
}

TEST_P(RetireTest, NowWithoutConfirmationPrintsTheCountAndChangesNothing) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string before = server_.Dump();
  ProcessResult refused = server_.Run({"retire-key", "1", "--now"});
  ExpectOneErrorLine(refused, kExitUsage, {"nothing was retired", "--confirm-unreadable"});
  EXPECT_EQ(refused.stdout_data,
            "5 values are under master key version 1 (credentials.secret: 5) and would become "
            "unreadable\n");
  ExpectDumpUnchanged(server_, before, "retire-key --now without confirmation");
}

TEST_P(RetireTest, NowMakesItsValuesUnreadableAndJobsReportThemAsRetired) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string secrets = StoredSecrets();
  ProcessResult retired = RunOk(server_, {"retire-key", "1", "--now", "--confirm-unreadable"});
  EXPECT_TRUE(Contains(retired.stdout_data,
                       "master key version 1 retired at once: 5 values under "
                       "it can no longer be read"))
      << retired.Describe();
  EXPECT_EQ(MasterState(1), "retired");
  EXPECT_EQ(LastAuditEntry()["detail"], "retired master version 1");

  ExpectOneErrorLine(server_.Run({"secret", "get", "credentials.secret", "1"}), kExitNotFound,
                     {"master key version 1, which is retired"});
  ProcessResult verify = server_.Run({"verify"});
  EXPECT_EQ(verify.exit_code, kExitCorrupt) << verify.Describe();
  EXPECT_TRUE(Contains(verify.stdout_data, "failed v1: 5 (retired_version 5)"))
      << verify.Describe();
  EXPECT_EQ(server_.Run({"sweep", "--no-progress"}).exit_code, kExitCorrupt);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_reencrypt_failures WHERE error_class = "
                         "'retired_version';"),
            "5\n");
  EXPECT_EQ(StoredSecrets(), secrets) << "quarantined values are kept as they are";
}

TEST_P(RetireTest, NowOnTheActiveVersionRotatesAndRetiresInOneChange) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  ProcessResult retired = RunOk(server_, {"retire-key", "1", "--now", "--confirm-unreadable"});
  EXPECT_TRUE(Contains(retired.stdout_data, "master key rotated: version 2 is active\n"))
      << retired.Describe();
  EXPECT_EQ(MasterState(1), "retired");
  EXPECT_EQ(MasterState(2), "active");
  // init, the demo's column, then one entry for the rotation and the retirement together.
  const json entry = LastAuditEntry();
  EXPECT_EQ(entry["seq"], 3);
  EXPECT_EQ(entry["event"], "retire");
  EXPECT_EQ(entry["master_before"], 1);
  EXPECT_EQ(entry["master_after"], 2);
  RunOk(server_, {"secret", "put", "credentials.secret", "1"}, "fresh");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "1"}).stdout_data, "fresh");
}

// The runner's options apply to the migration, its metrics outputs included; with nothing to
// move, the outputs still report a finished run.
TEST_P(RetireTest, TheMigrationReportsOnTheMetricsOutputs) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string textfile = (dir_.path() / "udmg.prom").string();
  RunOk(server_, {"retire-key", "1", "--no-progress", "--metrics-textfile", textfile});
  EXPECT_TRUE(Contains(ReadFile(textfile), "udmg_reencrypt_rows_remaining{job=\"reencrypt\"} 0\n"))
      << ReadFile(textfile);
  std::filesystem::remove(textfile);
  RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});  // version 2 left empty
  RunOk(server_, {"retire-key", "2", "--no-progress", "--metrics-textfile", textfile});
  EXPECT_TRUE(
      Contains(ReadFile(textfile), "udmg_last_success_timestamp_seconds{job=\"reencrypt\"} "))
      << ReadFile(textfile);
}

// Values the job cannot move (here one that does not decrypt) keep the version: it is not
// retired, and says how to go on.
TEST_P(RetireTest, AValueThatCannotBeMovedKeepsTheVersion) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  server_.Exec(
      "UPDATE credentials SET secret = substr(secret, 1, 12) || CASE substr(secret, 13, 1) WHEN "
      "'A' THEN 'B' ELSE 'A' END || substr(secret, 14) WHERE id = 3;");
  ProcessResult refused = server_.Run({"retire-key", "1", "--no-progress"});
  EXPECT_EQ(refused.exit_code, kExitCorrupt) << refused.Describe();
  EXPECT_TRUE(Contains(refused.stderr_data, "master key version 1 is not retired: "))
      << refused.Describe();
  EXPECT_EQ(MasterState(1), "decrypt_only");
  EXPECT_EQ(DemoValuesOnVersion(server_, 2), kRows - 1);
}

TEST_P(RetireTest, RefusalsChangeNothing) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string before = server_.Dump();
  ExpectOneErrorLine(server_.Run({"retire-key", "9"}), kExitNotFound,
                     {"no master key version 9 in this keyring"});
  ExpectOneErrorLine(server_.Run({"retire-key", "1", "--confirm-unreadable"}), kExitUsage,
                     {"--confirm-unreadable goes with --now"});
  const std::string key = server_.root_key();
  server_.set_root_key(RandomKeyHex());
  ExpectOneErrorLine(server_.Run({"retire-key", "1", "--now", "--confirm-unreadable"}),
                     kExitWrongKey);
  server_.set_root_key(key);
  ExpectDumpUnchanged(server_, before, "refused retire-key");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RetireTest);

}  // namespace
}  // namespace udmg::testing
