// Node key consistency: who this process is (node id, host, pid, program), the record it
// leaves in udmg_nodes when it opens the keyring (with the root version its K0 matches, found by
// fingerprint, or none for an unknown K0), and how a recorded node stands against the keyring as
// it is now. `status`, `doctor` and the udmg_node_* metrics all read nodes through AssessNodes, so
// they agree on what "stale" means. Decisions: docs/doctor.md.
//
// Thread-safety: free functions; the Store given to RecordThisNode is not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::pipeline {

// Names this node in udmg_nodes instead of the host name (e.g. a pod name, "gw-1").
inline constexpr std::string_view kNodeIdEnv = "UDMG_NODE_ID";
inline constexpr size_t kMaxNodeIdLength = 128;
// A node not seen for this long is listed as "not seen since ..." but never counted as stale: it
// is presumed decommissioned (its old K0 threatens nothing while it does not run).
inline constexpr int64_t kNodeGoneAfterSeconds = 7 * 24 * 3600;

struct NodeIdentity {
  std::string node_id;
  std::string host;
  int64_t pid = 0;
  std::string program;  // e.g. "udmg-server reencrypt"
};

// This process: node id from UDMG_NODE_ID (surrounding whitespace ignored) or else the host name,
// host from gethostname(), pid from getpid(). kBadInput when UDMG_NODE_ID is set but is not 1..128
// printable ASCII characters without spaces or quotes.
Result<NodeIdentity> ThisNode(std::string program);
// The same without UDMG_NODE_ID: named by the host name.
NodeIdentity ThisHost(std::string program);

// The program name of this process as the kernel knows it ("udmg-server", "my-gateway"), for
// library users that do not name themselves.
std::string DefaultProgramName();

// What this process records: the root version its K0 matches in `keyring` (nullopt for an unknown
// K0, or when `k0` is empty because the key is missing or malformed) and its fingerprint.
db::NodeRecord NodeRecordFor(const NodeIdentity& self, const KeyringRecords& keyring,
                             std::span<const uint8_t> k0, int64_t now);

// NodeRecordFor + Store::RecordNode (an upsert: first_seen is kept). On a read-only session (a
// hot standby) nothing is recorded and this is OK: the node's record lives on the primary.
Status RecordThisNode(db::Store& store, const NodeIdentity& self, const KeyringRecords& keyring,
                      std::span<const uint8_t> k0, int64_t now);

enum class NodeKeyStanding { kCurrent, kOlder, kUnknown };
std::string_view NodeKeyStandingName(NodeKeyStanding standing);  // "current", "older", "unknown"

// A recorded node against the keyring as it is now. The standing is decided by the node's K0
// fingerprint (not its recorded version number, which a restore may have reused): the current
// root's fingerprint is current, an older root's is older, anything else (a missing key, a key
// from another keyring, a root set aside by a restore) is unknown.
struct NodeAssessment {
  db::NodeRecord node;
  NodeKeyStanding standing = NodeKeyStanding::kUnknown;
  std::optional<uint32_t> version;  // the root version its fingerprint matches now
  uint32_t current_version = 0;
  bool gone = false;                // last seen more than kNodeGoneAfterSeconds ago
  // On an older or unknown K0 and seen recently: a problem for `doctor`, 1 in the metric.
  bool stale() const { return standing != NodeKeyStanding::kCurrent && !gone; }
};

NodeAssessment AssessNode(const db::NodeRecord& node, const KeyringRecords& keyring, int64_t now);
std::vector<NodeAssessment> AssessNodes(const std::vector<db::NodeRecord>& nodes,
                                        const KeyringRecords& keyring, int64_t now);

// One line for the operator: "node gw-2 (host db2, pid 77, udmg-server sweep) on older root key
// v1, current is v2, last seen 2024-04-05 10:11:12 UTC".
std::string DescribeNode(const NodeAssessment& assessment);

}  // namespace udmg::pipeline
