// The cryptoperiod policy end to end on every backend (docs/security.md, "Cryptoperiods"):
// `policy set` stores and audits it, `rotate-master-key --if-due` rotates only when a limit is
// reached and says why either way, and status, the metrics and `policy show` say where each key
// stands. The clock is injected by ageing the keys: their created_at is moved back in the
// database, which is all the policy reads.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

class PolicyTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, 3)); }

  json Show() { return json::parse(RunOk(server_, {"policy", "show", "--json"}).stdout_data); }

  int ActiveMaster() {
    std::optional<json> status = StatusJson(server_);
    return status ? (*status)["active_master_version"].get<int>() : -1;
  }

  // Moves every key `days` into the past: what the policy sees as `days` days of age.
  void AgeKeys(int days) {
    const std::string by = std::to_string(days * 86400);
    server_.Exec("UPDATE udmg_master_keys SET created_at = created_at - " + by + ";");
    server_.Exec("UPDATE udmg_root_keys SET created_at = created_at - " + by + ";");
  }
};

TEST_P(PolicyTest, SetChangesOnlyTheLimitsGivenAndIsAudited) {
  ProcessResult set = server_.Run({"policy", "set", "--master-max-age", "90d",
                                   "--master-max-encryptions", "1000", "--root-max-age", "1y"});
  ExpectOneErrorLine(set, kExitBadInput, {"--root-max-age"});  // 1y is no duration
  EXPECT_TRUE(Show()["policy"]["master_max_age_seconds"].is_null()) << "nothing set";
  set = RunOk(server_, {"policy", "set", "--master-max-age", "90d", "--master-max-encryptions",
                        "1000", "--root-max-age", "365d"});
  EXPECT_TRUE(Contains(set.stdout_data,
                       "policy set: master key: maximum age 90d, maximum encryptions 1000; root "
                       "key: maximum age 365d"))
      << set.Describe();
  RunOk(server_, {"policy", "set", "--master-max-encryptions", "none"});
  json shown = Show();
  EXPECT_EQ(shown["policy"]["master_max_age_seconds"], 90 * 86400);
  EXPECT_TRUE(shown["policy"]["master_max_encryptions"].is_null());
  EXPECT_EQ(shown["policy"]["root_max_age_seconds"], 365 * 86400);
  EXPECT_EQ(shown["master_key"]["version"], 1);
  EXPECT_EQ(shown["master_key"]["encryptions"], 3) << "the demo's three values";
  EXPECT_FALSE(shown["overdue"].get<bool>());

  json entries = json::parse(RunOk(server_, {"audit", "list", "--json"}).stdout_data)["entries"];
  // init, the demo's column, and two policy changes
  ASSERT_EQ(entries.size(), 4u) << entries.dump();
  for (size_t i : {2u, 3u}) {
    EXPECT_EQ(entries[i]["command"], "udmg-server policy set");
    EXPECT_EQ(entries[i]["event"], "policy");
    EXPECT_EQ(entries[i]["root_before"], 1);
    EXPECT_EQ(entries[i]["root_after"], 1);
    EXPECT_EQ(entries[i]["master_before"], 1);
    EXPECT_EQ(entries[i]["master_after"], 1);
    EXPECT_EQ(entries[i]["key_version"], 1);
  }
  EXPECT_TRUE(
      Contains(RunOk(server_, {"audit", "verify"}).stdout_data, "audit trail verified: 4 entries"));
}

TEST_P(PolicyTest, IfDueRotatesOnlyOnceTheMasterKeyIsPastItsMaximumAge) {
  AgeKeys(29);  // whole days: the age said does not depend on how long the test took
  ProcessResult unset = RunOk(server_, {"rotate-master-key", "--if-due"});
  EXPECT_EQ(unset.stdout_data,
            "rotation not due: master key version 1 is 29 days old and has made 3 encryptions: "
            "no limit is set for it (`udmg-server policy set`)\n");
  RunOk(server_, {"policy", "set", "--master-max-age", "30d"});
  ProcessResult early = RunOk(server_, {"rotate-master-key", "--if-due"});
  EXPECT_EQ(early.stdout_data,
            "rotation not due: master key version 1 is 29 days old (maximum 30d) and has made 3 "
            "encryptions: within the policy\n");
  EXPECT_EQ(ActiveMaster(), 1);

  AgeKeys(1);
  ProcessResult due =
      RunOk(server_, {"rotate-master-key", "--if-due", "--reencrypt", "--no-progress"});
  EXPECT_TRUE(Contains(due.stdout_data,
                       "rotation due: master key version 1 is 30 days old, past its maximum age "
                       "of 30d and has made 3 encryptions\nmaster key rotated: version 2 is "
                       "active"))
      << due.Describe();
  EXPECT_EQ(ActiveMaster(), 2);
  EXPECT_EQ(DemoValuesOnVersion(server_, 2), 3) << "--reencrypt migrated the values";

  AgeKeys(5);
  ProcessResult again = RunOk(server_, {"rotate-master-key", "--if-due"});
  EXPECT_EQ(again.stdout_data,
            "rotation not due: master key version 2 is 5 days old (maximum 30d) and has made 3 "
            "encryptions: within the policy\n");
  EXPECT_EQ(ActiveMaster(), 2);
}

// Encryptions count across every node: the count in the database, not this process's.
TEST_P(PolicyTest, IfDueCountsTheEncryptionsOfEveryNode) {
  RunOk(server_, {"policy", "set", "--master-max-encryptions", "5"});
  AgeKeys(3);
  EXPECT_TRUE(Contains(RunOk(server_, {"rotate-master-key", "--if-due"}).stdout_data,
                       "rotation not due: master key version 1 is 3 days old and has made 3 "
                       "encryptions (maximum 5): within the policy"));
  server_.Exec("UPDATE udmg_key_usage SET encryptions = 5 WHERE version = 1;");
  ProcessResult due = RunOk(server_, {"rotate-master-key", "--if-due", "--json"});
  json document = json::parse(due.stdout_data);
  EXPECT_EQ(document["messages"][0],
            "rotation due: master key version 1 is 3 days old and has made 5 encryptions, at or "
            "past its maximum of 5");
  EXPECT_EQ(document["active_master_version"], 2);
}

TEST_P(PolicyTest, StatusMetricsAndShowSayWhichKeyIsOverdue) {
  RunOk(server_, {"policy", "set", "--root-max-age", "1d", "--master-max-age", "90d",
                  "--master-max-encryptions", "100"});
  AgeKeys(2);
  const std::string root_why = "root key version 1 is 2 days old, past its maximum age of 1d";
  ProcessResult status = RunOk(server_, {"status"});
  EXPECT_TRUE(Contains(status.stdout_data,
                       "cryptoperiods:\n  master key version 1 is 2 days old "
                       "(maximum 90d) and has made 3 encryptions (maximum "
                       "100): within the policy\n  ROTATION DUE: " +
                           root_why + "\n"))
      << status.stdout_data;
  std::optional<json> status_json = StatusJson(server_);
  ASSERT_TRUE(status_json.has_value());
  EXPECT_TRUE((*status_json)["cryptoperiods"]["root_key"]["due"].get<bool>());
  EXPECT_TRUE((*status_json)["cryptoperiods"]["overdue"].get<bool>());
  EXPECT_TRUE(
      Contains(RunOk(server_, {"policy", "show"}).stdout_data, "ROTATION DUE: " + root_why));

  const std::string metrics = RunOk(server_, {"metrics"}).stdout_data;
  for (const char* series : {"udmg_key_rotation_overdue{key=\"root\"} 1\n",
                             "udmg_key_rotation_overdue{key=\"master\"} 0\n",
                             "udmg_key_policy_max_age_seconds{key=\"root\"} 86400\n",
                             "udmg_key_policy_max_age_seconds{key=\"master\"} 7776000\n",
                             "udmg_master_key_policy_max_encryptions 100\n",
                             "udmg_master_key_encryptions_total{version=\"1\"} 3\n"}) {
    EXPECT_TRUE(Contains(metrics, series)) << series << metrics;
  }
  ProcessResult doctor = server_.Run({"doctor", "--json"});
  json findings = json::parse(doctor.stdout_data)["findings"];
  json cryptoperiods = json::array();
  for (const json& finding : findings) {
    if (finding["check"] == "cryptoperiods") cryptoperiods.push_back(finding);
  }
  ASSERT_EQ(cryptoperiods.size(), 1u) << findings.dump();
  EXPECT_EQ(cryptoperiods[0]["status"], "warning");
  EXPECT_EQ(cryptoperiods[0]["message"], root_why);
  EXPECT_TRUE(Contains(cryptoperiods[0]["fix"].get<std::string>(), "udmg-server rotate-k0"));
  // --if-due is about the master key: a root key past its age is rotate-k0's to fix.
  EXPECT_TRUE(Contains(RunOk(server_, {"rotate-master-key", "--if-due"}).stdout_data,
                       "rotation not due: master key version 1"));
}

TEST_P(PolicyTest, BadInputIsOneLineAndChangesNothing) {
  RunOk(server_, {"policy", "set", "--master-max-age", "90d"});
  const std::string before = server_.Dump();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"policy", "set"}, kExitUsage, "give at least one of"},
      {{"policy", "set", "--master-max-age", "90x"}, kExitBadInput, "--master-max-age"},
      {{"policy", "set", "--master-max-age", "0"}, kExitBadInput, "from 1 second to 10 years"},
      {{"policy", "set", "--root-max-age", "3651d"}, kExitBadInput, "--root-max-age"},
      {{"policy", "set", "--master-max-encryptions", "0"}, kExitBadInput, "from 1 to 4294967296"},
      {{"policy", "set", "--master-max-encryptions", "4294967297"},
       kExitBadInput,
       "from 1 to 4294967296"},
      {{"policy", "set", "--master-max-encryptions", "-1"},
       kExitBadInput,
       "is not a number of encryptions"},
  };
  for (const Case& bad : cases) {
    ProcessResult result = server_.Run(bad.args);
    ExpectOneErrorLine(result, bad.exit_code, {bad.says});
  }
  const std::string right_key = server_.root_key();
  server_.set_root_key(RandomKeyHex());
  ExpectOneErrorLine(server_.Run({"policy", "set", "--master-max-age", "1d"}), kExitWrongKey);
  server_.set_root_key(right_key);
  ExpectDumpUnchanged(server_, before, "refused policy changes");
  EXPECT_EQ(Show()["policy"]["master_max_age_seconds"], 90 * 86400);
}

TEST_P(PolicyTest, ACorruptPolicyRowStopsTheDecisionsButNotStatus) {
  server_.Exec("INSERT INTO udmg_policy (name, value) VALUES ('master_max_age_days', 90);");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"policy", "show"}, {"rotate-master-key", "--if-due"}}) {
    ExpectOneErrorLine(server_.Run(args), kExitCorrupt, {"master_max_age_days"});
  }
  EXPECT_EQ(ActiveMaster(), 1);
  ProcessResult status = RunOk(server_, {"status"});
  EXPECT_TRUE(Contains(status.stderr_data, "the cryptoperiod policy could not be read"))
      << status.Describe();
  // Setting the policy again keeps its valid limits and drops the row: the fix the message names.
  server_.Exec("INSERT INTO udmg_policy (name, value) VALUES ('root_max_age_seconds', 86400);");
  RunOk(server_, {"policy", "set", "--master-max-age", "90d"});
  json shown = Show();
  EXPECT_EQ(shown["policy"]["master_max_age_seconds"], 90 * 86400);
  EXPECT_EQ(shown["policy"]["root_max_age_seconds"], 86400);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_policy;"), "2\n");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(PolicyTest);

}  // namespace
}  // namespace udmg::testing
