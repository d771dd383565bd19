// The evidence report end to end on every backend (docs/compliance.md): a database that went
// through two master key rotations, a root key rotation and a pruning, reported as JSON and as
// Markdown; a tampered audit entry is in the report and makes it exit 15.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

constexpr int kRows = 6;

class ReportTest : public ServerTest {
 protected:
  void SetUp() override {
    server_.set_env("UDMG_NODE_ID", "gw-report");
    ASSERT_TRUE(InitDemo(server_, kRows));
    RunOk(server_, {"policy", "set", "--master-max-age", "90d"});
    RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
    const std::string new_key = RandomKeyHex();
    RunOk(server_, {"rotate-k0", "--new-key", new_key});
    server_.set_root_key(new_key);
    RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
    RunOk(server_, {"prune-keys"});
  }
};

TEST_P(ReportTest, EveryVersionWithItsOriginStateUseAndValues) {
  json report = json::parse(RunOk(server_, {"report", "--json"}).stdout_data);
  const json& roots = report["root_keys"];
  ASSERT_EQ(roots.size(), 2u) << roots.dump();
  EXPECT_FALSE(roots[0]["current"].get<bool>());
  EXPECT_EQ(roots[0]["wrapped_by"], 2);
  EXPECT_EQ(roots[0]["created_by"]["command"], "udmg-server init");
  EXPECT_EQ(roots[0]["created_by"]["node"], "gw-report");
  EXPECT_FALSE(roots[0]["replaced_at"].is_null());
  EXPECT_TRUE(roots[1]["current"].get<bool>());
  EXPECT_EQ(roots[1]["created_by"]["command"], "udmg-server rotate-k0");
  EXPECT_TRUE(roots[1]["replaced_at"].is_null());

  const json& masters = report["master_keys"];
  ASSERT_EQ(masters.size(), 3u) << masters.dump();
  const char* states[] = {"retired", "retired", "active"};
  const int encryptions[] = {kRows, kRows, kRows};
  const int values[] = {0, 0, kRows};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(masters[i]["version"], i + 1);
    EXPECT_EQ(masters[i]["state"], states[i]) << i;
    EXPECT_EQ(masters[i]["wrapped_by_root"], 2) << "every K3 is rewrapped by rotate-k0";
    EXPECT_EQ(masters[i]["encryptions"], encryptions[i]) << i;
    EXPECT_EQ(masters[i]["values"]["credentials.secret"], values[i]) << i;
    EXPECT_EQ(masters[i]["values_total"], values[i]) << i;
  }
  EXPECT_EQ(masters[2]["created_by"]["command"], "udmg-server rotate-master-key");

  EXPECT_EQ(report["cryptoperiods"]["policy"]["master_max_age_seconds"], 90 * 86400);
  EXPECT_FALSE(report["cryptoperiods"]["overdue"].get<bool>());
  // init, the demo's column, policy set, rotate-master-key with its job's start and end,
  // rotate-k0, rotate-master-key with its job's start and end, prune-keys
  EXPECT_TRUE(report["audit"]["verified"].get<bool>()) << report["audit"].dump();
  EXPECT_EQ(report["audit"]["entries"], 11);
  ASSERT_EQ(report["nodes"].size(), 1u);
  EXPECT_EQ(report["nodes"][0]["node_id"], "gw-report");
  EXPECT_EQ(report["nodes"][0]["root_version"], 2);
  EXPECT_EQ(report["columns"]["credentials.secret"]["plaintext"], 0);
}

TEST_P(ReportTest, MarkdownHasATableForEachKindOfKey) {
  const std::string markdown = RunOk(server_, {"report", "--markdown"}).stdout_data;
  EXPECT_EQ(markdown.rfind("# Key management evidence report\n", 0), 0u) << markdown;
  for (const char* part :
       {"## Root keys (K0)\n", "## Master keys (K1)\n", "## Cryptoperiod policy\n",
        "## Audit trail\n", "## Nodes\n", "| 3 | active | root v2 |",
        "- master key: maximum age 90d, maximum encryptions no limit; root key: maximum age no "
        "limit\n- policy met: yes\n",
        "- verified: 11 entries, head 11:"}) {
    EXPECT_TRUE(Contains(markdown, part)) << part << "\n" << markdown;
  }
  ExpectOneErrorLine(server_.Run({"report", "--json", "--markdown"}), kExitUsage, {"exclude"});
}

TEST_P(ReportTest, ATamperedEntryIsReportedAndTheExitCodeSaysSo) {
  server_.Exec("UPDATE udmg_audit SET os_user = 'mallory' WHERE seq = 4;");
  ProcessResult result = server_.Run({"report", "--json"});
  EXPECT_EQ(result.exit_code, kExitAuditBroken) << result.Describe();
  json report = json::parse(result.stdout_data);
  EXPECT_FALSE(report["audit"]["verified"].get<bool>());
  EXPECT_EQ(report["audit"]["first_break"], 4);
  EXPECT_EQ(report["audit"]["entries"], 3);
  // Who made a version comes from verified entries only: not from the edited one, nor after it.
  EXPECT_FALSE(Contains(result.stdout_data, "mallory")) << result.stdout_data;
  EXPECT_EQ(report["master_keys"][0]["created_by"]["command"], "udmg-server init");
  EXPECT_TRUE(report["master_keys"][1]["created_by"].is_null()) << report["master_keys"].dump();
  EXPECT_TRUE(report["master_keys"][0]["retired_by"].is_null()) << report["master_keys"].dump();
  ExpectOneErrorLine(result, kExitAuditBroken, {"entry 4 does not verify"});
  const std::string text = server_.Run({"report", "--markdown"}).stdout_data;
  EXPECT_TRUE(Contains(text, "NOT VERIFIED: the audit trail does not verify: entry 4")) << text;
  EXPECT_TRUE(Contains(text, "| credentials.secret 0 | not in the audit trail |")) << text;
}

TEST_P(ReportTest, AWrongRootKeyMakesNoReport) {
  server_.set_root_key(RandomKeyHex());
  ProcessResult result = server_.Run({"report"});
  ExpectOneErrorLine(result, kExitWrongKey);
  EXPECT_TRUE(result.stdout_data.empty()) << result.Describe();
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ReportTest);

}  // namespace
}  // namespace udmg::testing
