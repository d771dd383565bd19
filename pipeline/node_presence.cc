#include "pipeline/node_presence.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "base/time_text.h"
#include "engine/root_key.h"

namespace udmg::pipeline {
namespace {

std::string Trim(std::string_view text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(kSpace);
  return std::string(text.substr(begin, end - begin + 1));
}

// Node ids end up in metric labels, JSON and one-line messages: printable ASCII, no spaces or
// quotes, so none of them needs escaping to be read unambiguously.
bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > kMaxNodeIdLength) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '"' || c == '\'' || c == '\\') return false;
  }
  return true;
}

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown-host";
  return name;
}

}  // namespace

NodeIdentity ThisHost(std::string program) {
  NodeIdentity self;
  self.host = HostName();
  self.pid = static_cast<int64_t>(getpid());
  self.program = std::move(program);
  self.node_id = self.host;
  return self;
}

Result<NodeIdentity> ThisNode(std::string program) {
  NodeIdentity self = ThisHost(std::move(program));
  if (const char* env = std::getenv(std::string(kNodeIdEnv).c_str())) {
    std::string id = Trim(env);
    if (!IsValidNodeId(id)) {
      return Error{ErrorCode::kBadInput,
                   std::string(kNodeIdEnv) + " is not a valid node id (" +
                       std::to_string(id.size()) + " characters after trimming): use 1 to " +
                       std::to_string(kMaxNodeIdLength) +
                       " printable characters without spaces or quotes, e.g. gw-1"};
    }
    self.node_id = std::move(id);
  }
  return self;
}

std::string DefaultProgramName() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  if (comm && std::getline(comm, name) && !name.empty()) return name;
  return "udmg-library";
}

db::NodeRecord NodeRecordFor(const NodeIdentity& self, const KeyringRecords& keyring,
                             std::span<const uint8_t> k0, int64_t now) {
  db::NodeRecord record;
  record.node_id = self.node_id;
  record.host = self.host;
  record.pid = self.pid;
  record.program = self.program;
  record.first_seen = now;
  record.last_seen = now;
  if (k0.empty()) return record;  // missing or malformed key: unknown, no fingerprint
  RootKeyCheck check = CheckRootKey(keyring, k0);
  record.root_version = check.version;
  record.root_fingerprint = check.fingerprint;
  return record;
}

Status RecordThisNode(db::Store& store, const NodeIdentity& self, const KeyringRecords& keyring,
                      std::span<const uint8_t> k0, int64_t now) {
  if (store.Access().read_only) return Status::Ok();
  return store.RecordNode(NodeRecordFor(self, keyring, k0, now));
}

std::string_view NodeKeyStandingName(NodeKeyStanding standing) {
  switch (standing) {
    case NodeKeyStanding::kCurrent: return "current";
    case NodeKeyStanding::kOlder: return "older";
    case NodeKeyStanding::kUnknown: break;
  }
  return "unknown";
}

NodeAssessment AssessNode(const db::NodeRecord& node, const KeyringRecords& keyring, int64_t now) {
  NodeAssessment assessment;
  assessment.node = node;
  const RootKeyRecord* current = CurrentRoot(keyring);
  if (current != nullptr) assessment.current_version = current->version;
  if (!node.root_fingerprint.empty()) {
    for (const RootKeyRecord& root : keyring.roots) {
      if (root.fingerprint != node.root_fingerprint) continue;
      assessment.version = root.version;
      assessment.standing = &root == current ? NodeKeyStanding::kCurrent : NodeKeyStanding::kOlder;
    }
  }
  assessment.gone = now - node.last_seen > kNodeGoneAfterSeconds;
  return assessment;
}

std::vector<NodeAssessment> AssessNodes(const std::vector<db::NodeRecord>& nodes,
                                        const KeyringRecords& keyring, int64_t now) {
  std::vector<NodeAssessment> assessed;
  assessed.reserve(nodes.size());
  for (const db::NodeRecord& node : nodes) assessed.push_back(AssessNode(node, keyring, now));
  return assessed;
}

std::string DescribeNode(const NodeAssessment& assessment) {
  const db::NodeRecord& node = assessment.node;
  std::string line = "node " + node.node_id + " (host " + node.host + ", pid " +
                     std::to_string(node.pid) + ", " + node.program + ") ";
  std::string current = "v" + std::to_string(assessment.current_version);
  switch (assessment.standing) {
    case NodeKeyStanding::kCurrent:
      line += "on the current root key " + current;
      break;
    case NodeKeyStanding::kOlder:
      line += "on older root key v" + std::to_string(*assessment.version) + ", current is " +
              current;
      break;
    case NodeKeyStanding::kUnknown:
      line += node.root_fingerprint.empty()
                  ? "had no usable root key (missing or malformed), current is " + current
                  : "on an unknown root key (fingerprint " + node.root_fingerprint +
                        "), current is " + current;
      break;
  }
  line += assessment.gone ? ", not seen since " : ", last seen ";
  return line + UtcText(node.last_seen);
}

}  // namespace udmg::pipeline
