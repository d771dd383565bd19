// The evidence report (`udmg-server report`, docs/compliance.md): for each root and master
// version, when and by whom it was made, what wraps it, its state, age and use, and the values
// still under it in each column; the cryptoperiod policy and whether it is met; the audit trail's
// verification; the nodes and the root version each runs. Gathered from the database; the
// caller renders it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/audit_chain.h"
#include "pipeline/key_policy.h"
#include "pipeline/node_presence.h"

namespace udmg::pipeline {

// Who made a version current: the audit entry of that change (none for versions made before the
// trail existed).
struct KeyOrigin {
  int64_t at = 0;
  std::string command;
  std::string node;
  std::string os_user;
};

struct RootKeyEvidence {
  RootKeyRecord record;
  bool current = false;
  std::optional<KeyOrigin> origin;
  std::optional<int64_t> replaced_at;  // when the next root version became current
};

struct MasterKeyEvidence {
  MasterKeyRecord record;
  std::optional<KeyOrigin> origin;
  std::optional<KeyOrigin> retired_by;     // the entry that retired it (prune-keys, retire-key)
  uint64_t encryptions = 0;                // every node's (udmg_key_usage)
  std::map<std::string, uint64_t> values;  // column name -> values under this version
};

struct ColumnLeftovers {
  uint64_t plaintext = 0;
  uint64_t malformed = 0;
};

struct EvidenceReport {
  int64_t generated_at = 0;
  std::string database;
  std::vector<RootKeyEvidence> roots;              // by version
  std::vector<MasterKeyEvidence> masters;          // by version
  std::map<std::string, ColumnLeftovers> columns;  // every registered column, by name
  PolicyStanding policy;
  AuditVerdict audit;
  std::vector<NodeAssessment> nodes;
};

// The report of `store` whose keyring is `records` and current K0 `k0` (the audit trail is
// verified with it) at `now`. Every count is complete: kDatabase when a registered column's rows
// are not all visible (RequireEveryRowVisible), kNotFound when its table is gone.
Result<EvidenceReport> BuildEvidenceReport(db::Store& store, const KeyringRecords& records,
                                           std::span<const uint8_t> k0, int64_t now);

}  // namespace udmg::pipeline
