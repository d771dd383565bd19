// pipeline/node_presence: who this process is, what it records, how a recorded node stands against
// the keyring (by fingerprint), and the udmg_node_* families built from that.
#include "pipeline/node_presence.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "engine/root_key.h"
#include "engine/secret.h"
#include "metrics/text_serializer.h"
#include "pipeline/key_state_metrics.h"

namespace udmg::pipeline {
namespace {

constexpr int64_t kNow = 1'700'000'000;

// A keyring with root v1 (old_k0, historical) and v2 (new_k0, current).
class NodePresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KeyringRecords first = NewKeyringRecords(old_k0_, RandomSecret(kKeySize), kNow - 100);
    Result<KeyringRecords> rotated = RotateRootKey(first, old_k0_, new_k0_, kNow - 50);
    ASSERT_TRUE(rotated.ok()) << rotated.error().message;
    keyring_ = *rotated;
  }

  db::NodeRecord Recorded(const std::string& id, std::span<const uint8_t> k0,
                          int64_t seen = kNow) {
    NodeIdentity self{id, "host-" + id, 42, "udmg-server sweep"};
    return NodeRecordFor(self, keyring_, k0, seen);
  }

  SecretBytes old_k0_ = RandomSecret(kKeySize);
  SecretBytes new_k0_ = RandomSecret(kKeySize);
  KeyringRecords keyring_;
};

TEST_F(NodePresenceTest, RecordsTheRootVersionItsKeyMatches) {
  db::NodeRecord current = Recorded("a", new_k0_);
  EXPECT_EQ(current.root_version, 2u);
  EXPECT_EQ(current.root_fingerprint, RootKeyFingerprint(new_k0_));
  EXPECT_EQ(current.program, "udmg-server sweep");
  EXPECT_EQ(current.first_seen, kNow);
  EXPECT_EQ(current.last_seen, kNow);
  EXPECT_EQ(Recorded("b", old_k0_).root_version, 1u);
  db::NodeRecord unknown = Recorded("c", RandomSecret(kKeySize));
  EXPECT_FALSE(unknown.root_version.has_value());
  EXPECT_EQ(unknown.root_fingerprint.size(), 32u);
  db::NodeRecord missing = Recorded("d", {});
  EXPECT_FALSE(missing.root_version.has_value());
  EXPECT_EQ(missing.root_fingerprint, "");
}

TEST_F(NodePresenceTest, StandingIsByFingerprintAndGoneNodesAreNotStale) {
  NodeAssessment current = AssessNode(Recorded("a", new_k0_), keyring_, kNow);
  EXPECT_EQ(current.standing, NodeKeyStanding::kCurrent);
  EXPECT_FALSE(current.stale());
  NodeAssessment older = AssessNode(Recorded("b", old_k0_), keyring_, kNow);
  EXPECT_EQ(older.standing, NodeKeyStanding::kOlder);
  EXPECT_EQ(older.version, 1u);
  EXPECT_EQ(older.current_version, 2u);
  EXPECT_TRUE(older.stale());
  EXPECT_TRUE(AssessNode(Recorded("c", RandomSecret(kKeySize)), keyring_, kNow).stale());
  EXPECT_TRUE(AssessNode(Recorded("d", {}), keyring_, kNow).stale());

  // A recorded version number that a restore reused does not make a foreign key current.
  db::NodeRecord reused = Recorded("e", RandomSecret(kKeySize));
  reused.root_version = 2;
  EXPECT_EQ(AssessNode(reused, keyring_, kNow).standing, NodeKeyStanding::kUnknown);

  // Not seen for longer than the limit: listed, not stale; exactly at the limit: still counted.
  NodeAssessment gone =
      AssessNode(Recorded("f", old_k0_, kNow - kNodeGoneAfterSeconds - 1), keyring_, kNow);
  EXPECT_TRUE(gone.gone);
  EXPECT_FALSE(gone.stale());
  EXPECT_TRUE(
      AssessNode(Recorded("g", old_k0_, kNow - kNodeGoneAfterSeconds), keyring_, kNow).stale());
}

TEST_F(NodePresenceTest, DescribesANodeWithoutKeyBytes) {
  std::string older = DescribeNode(AssessNode(Recorded("gw-2", old_k0_), keyring_, kNow));
  EXPECT_EQ(older, "node gw-2 (host host-gw-2, pid 42, udmg-server sweep) on older root key v1, "
                   "current is v2, last seen 2023-11-14 22:13:20 UTC");
  std::string missing = DescribeNode(AssessNode(Recorded("gw-3", {}), keyring_, kNow));
  EXPECT_NE(missing.find("had no usable root key"), std::string::npos) << missing;
  std::string gone = DescribeNode(AssessNode(Recorded("gw-4", new_k0_, 0), keyring_, kNow));
  EXPECT_NE(gone.find("not seen since 1970-01-01 00:00:00 UTC"), std::string::npos) << gone;
}

TEST(ThisNodeTest, NodeIdFromTheEnvironmentElseTheHostName) {
  unsetenv("UDMG_NODE_ID");
  Result<NodeIdentity> host = ThisNode("udmg-server status");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->node_id, host->host);
  EXPECT_EQ(host->pid, static_cast<int64_t>(getpid()));
  EXPECT_EQ(host->program, "udmg-server status");

  setenv("UDMG_NODE_ID", "  gw-1\n", 1);
  Result<NodeIdentity> named = ThisNode("x");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->node_id, "gw-1");

  for (const char* bad : {"", "   ", "two words", "quo\"te", "tab\there"}) {
    setenv("UDMG_NODE_ID", bad, 1);
    Result<NodeIdentity> refused = ThisNode("x");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kBadInput);
    EXPECT_NE(refused.error().message.find("UDMG_NODE_ID"), std::string::npos);
  }
  setenv("UDMG_NODE_ID", std::string(kMaxNodeIdLength + 1, 'n').c_str(), 1);
  EXPECT_FALSE(ThisNode("x").ok());
  setenv("UDMG_NODE_ID", std::string(kMaxNodeIdLength, 'n').c_str(), 1);
  EXPECT_TRUE(ThisNode("x").ok());
  unsetenv("UDMG_NODE_ID");
}

TEST_F(NodePresenceTest, MetricFamiliesMarkStaleNodesAndLeaveGoneOnesOut) {
  KeyState state;
  state.nodes = AssessNodes({Recorded("gw-1", new_k0_), Recorded("gw-2", old_k0_),
                             Recorded("gw-9", old_k0_, kNow - kNodeGoneAfterSeconds - 10)},
                            keyring_, kNow);
  std::string text = metrics::TextSerializer().Serialize(KeyStateFamilies(state));
  EXPECT_NE(text.find("udmg_node_root_key_stale{host=\"host-gw-1\",node=\"gw-1\"} 0\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("udmg_node_root_key_stale{host=\"host-gw-2\",node=\"gw-2\"} 1\n"),
            std::string::npos) << text;
  EXPECT_EQ(text.find("udmg_node_root_key_stale{host=\"host-gw-9\""), std::string::npos) << text;
  EXPECT_NE(text.find("udmg_node_last_seen_timestamp_seconds{node=\"gw-9\"} "), std::string::npos)
      << text;
  EXPECT_NE(text.find("udmg_node_last_seen_timestamp_seconds{node=\"gw-1\"} 1700000000\n"),
            std::string::npos) << text;
}

}  // namespace
}  // namespace udmg::pipeline
