// Node key consistency end to end on every backend (docs/doctor.md): every process that
// opens the keyring records its node, even when its K0 is refused; `status`, `doctor` and the
// udmg_node_* metrics name the nodes on an older or unknown K0.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/doctor_helpers.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

constexpr int kRows = 3;

// The node of `status --json` named `node_id`; null when it is not listed.
json StatusNode(const UdmgServer& server, const std::string& node_id) {
  auto status = StatusJson(server);
  if (!status || !(*status)["nodes"].is_array()) {
    ADD_FAILURE() << "status --json has no nodes array";
    return nullptr;
  }
  for (const json& node : (*status)["nodes"]) {
    if (node["node_id"] == node_id) return node;
  }
  return nullptr;
}

std::string Metrics(const UdmgServer& server) { return RunOk(server, {"metrics"}).stdout_data; }

class NodesTest : public ServerTest {
 protected:
  void SetUp() override {
    server_.set_env("UDMG_NODE_ID", "gw-new");  // this test's own node, from init on
    ASSERT_TRUE(InitDemo(server_, kRows));
    old_key_ = server_.root_key();
    new_key_ = RandomKeyHex();
    RunOk(server_, {"rotate-k0", "--new-key", new_key_});
    server_.set_root_key(new_key_);
    RecordBackupRow(server_);
    RunOk(server_, {"secret", "get", "credentials.secret", "1"});
  }

  // Runs `secret get` as node `node_id` with `key`; expects `code`, then goes back to gw-new with
  // the current key.
  void ReadAs(const std::string& node_id, const std::string& key, int code) {
    server_.set_env("UDMG_NODE_ID", node_id);
    server_.set_root_key(key);
    ProcessResult result = server_.Run({"secret", "get", "credentials.secret", "1"});
    EXPECT_EQ(result.exit_code, code) << result.Describe();
    server_.set_env("UDMG_NODE_ID", "gw-new");
    server_.set_root_key(new_key_);
  }

  std::string old_key_;
  std::string new_key_;
};

TEST_P(NodesTest, ANodeOnTheOlderRootKeyIsNamedByStatusDoctorAndTheMetric) {
  ReadAs("gw-old", old_key_, kExitWrongKey);  // refused, yet recorded

  json old_node = StatusNode(server_, "gw-old");
  ASSERT_TRUE(old_node.is_object());
  EXPECT_EQ(old_node["root_key"], "older");
  EXPECT_EQ(old_node["root_version"], 1);
  EXPECT_EQ(old_node["root_fingerprint"], FingerprintOf(old_key_));
  EXPECT_EQ(old_node["stale"], true);
  EXPECT_EQ(old_node["program"], "udmg-server secret get");
  json new_node = StatusNode(server_, "gw-new");
  ASSERT_TRUE(new_node.is_object());
  EXPECT_EQ(new_node["root_key"], "current");
  EXPECT_EQ(new_node["stale"], false);
  ProcessResult human = RunOk(server_, {"status"});
  EXPECT_NE(human.stdout_data.find("node gw-old"), std::string::npos) << human.stdout_data;
  EXPECT_NE(human.stdout_data.find("older root key v1"), std::string::npos) << human.stdout_data;
  EXPECT_NE(human.stdout_data.find("STALE"), std::string::npos) << human.stdout_data;

  ExpectDoctorFinding(server_, kExitUnhealthy, "nodes",
                      {.status = "problem",
                       .in_message = {"gw-old", "older root key v1", "last seen"},
                       .in_fix = {"on gw-old"}});

  const std::string metrics = Metrics(server_);
  EXPECT_EQ(NodeSample(metrics, "udmg_node_root_key_stale", "gw-old"), 1.0) << metrics;
  EXPECT_EQ(NodeSample(metrics, "udmg_node_root_key_stale", "gw-new"), 0.0) << metrics;
  EXPECT_TRUE(NodeSample(metrics, "udmg_node_last_seen_timestamp_seconds", "gw-old")) << metrics;
  ExpectNoKeyIn(human, {old_key_, new_key_});

  // The operator sets the current key on gw-old: everything clears.
  ReadAs("gw-old", new_key_, kExitOk);
  EXPECT_EQ(StatusNode(server_, "gw-old")["stale"], false);
  ASSERT_TRUE(DoctorJson(server_, kExitOk));
  EXPECT_EQ(NodeSample(Metrics(server_), "udmg_node_root_key_stale", "gw-old"), 0.0);
}

TEST_P(NodesTest, ANodeOnAnUnknownRootKeyIsStale) {
  const std::string rogue = RandomKeyHex();
  ReadAs("gw-rogue", rogue, kExitWrongKey);
  json node = StatusNode(server_, "gw-rogue");
  ASSERT_TRUE(node.is_object());
  EXPECT_EQ(node["root_key"], "unknown");
  EXPECT_TRUE(node["root_version"].is_null());
  EXPECT_EQ(node["stale"], true);

  ExpectDoctorFinding(server_, kExitUnhealthy, "nodes",
                      {.status = "problem",
                       .in_message = {"unknown root key (fingerprint " + FingerprintOf(rogue)}});
  EXPECT_EQ(NodeSample(Metrics(server_), "udmg_node_root_key_stale", "gw-rogue"), 1.0);
}

TEST_P(NodesTest, ANodeNotSeenForAWeekIsListedButNotCounted) {
  ReadAs("gw-gone", old_key_, kExitWrongKey);
  server_.Exec("UPDATE udmg_nodes SET last_seen = last_seen - 8 * 86400 WHERE node_id = 'gw-gone';");
  EXPECT_EQ(StatusNode(server_, "gw-gone")["gone"], true);
  EXPECT_EQ(StatusNode(server_, "gw-gone")["stale"], false);

  auto doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  auto nodes = FindingsOf(*doctor, "nodes");
  ASSERT_EQ(nodes.size(), 2u) << *doctor;  // the warning, and "none stale"
  EXPECT_EQ(nodes[0]["status"], "warning");
  EXPECT_NE(nodes[0]["message"].get<std::string>().find("not seen since"), std::string::npos);
  EXPECT_EQ(nodes[1]["status"], "ok");

  const std::string metrics = Metrics(server_);
  EXPECT_FALSE(NodeSample(metrics, "udmg_node_root_key_stale", "gw-gone")) << metrics;
  EXPECT_TRUE(NodeSample(metrics, "udmg_node_last_seen_timestamp_seconds", "gw-gone"));
}

TEST_P(NodesTest, OneRowPerNodeKeepsItsFirstSeen) {
  const std::string first = server_.Exec("SELECT first_seen FROM udmg_nodes WHERE node_id = 'gw-new';");
  server_.Exec("UPDATE udmg_nodes SET first_seen = first_seen - 100, last_seen = last_seen - 100 "
               "WHERE node_id = 'gw-new';");
  RunOk(server_, {"secret", "get", "credentials.secret", "2"});
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_nodes WHERE node_id = 'gw-new';"), "1\n");
  const std::string row = server_.Exec(
      "SELECT first_seen, last_seen FROM udmg_nodes WHERE node_id = 'gw-new';");
  const long long first_seen = std::stoll(row.substr(0, row.find('|')));
  const long long last_seen = std::stoll(row.substr(row.find('|') + 1));
  EXPECT_EQ(first_seen, std::stoll(first) - 100);
  EXPECT_GE(last_seen, std::stoll(first));
}

TEST_P(NodesTest, AnInvalidNodeIdIsAWarningNeverAnError) {
  server_.set_env("UDMG_NODE_ID", "two words");
  ProcessResult result = server_.Run({"secret", "get", "credentials.secret", "1"});
  EXPECT_EQ(result.exit_code, kExitOk) << result.Describe();
  EXPECT_EQ(result.stdout_data, "demo-secret-1");
  EXPECT_NE(result.stderr_data.find("UDMG_NODE_ID"), std::string::npos) << result.Describe();
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_nodes WHERE node_id = 'two words';"), "0\n");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(NodesTest);

}  // namespace
}  // namespace udmg::testing
