// Where the keys stand against the cryptoperiod policy (engine/cryptoperiod.h): the one reading
// that `policy show`, `status`, `doctor`, the key-state metrics and `rotate-master-key --if-due`
// share (docs/security.md, "Cryptoperiods").
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "base/status.h"
#include "db/store.h"
#include "engine/cryptoperiod.h"

namespace udmg::pipeline {

struct PolicyStanding {
  KeyPolicy policy;
  std::map<uint32_t, uint64_t> encryptions;  // per master version, every node's (as read)
  std::optional<KeyDue> master;  // the active master version (nullopt: empty keyring)
  std::optional<KeyDue> root;    // the current root version
  bool overdue() const { return (master && master->due) || (root && root->due); }
};

// The stored policy, and `records`' active master and current root versions against it at `now`
// (the master version's encryptions are the store's counts, every node's together).
Result<PolicyStanding> AssessPolicy(db::KeyringStore& store, const KeyringRecords& records,
                                    int64_t now);

}  // namespace udmg::pipeline
