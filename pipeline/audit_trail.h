// The audit trail as the library and the CLI use it: who this process is when it appends, and
// `audit verify` (docs/security.md, "Audit trail"; the chain itself is engine/audit_chain.h).
#pragma once

#include <optional>
#include <span>
#include <string>

#include "base/status.h"
#include "db/store.h"
#include "engine/audit_chain.h"

namespace udmg::pipeline {

// This process as its entries name it: node id (ThisNode; the host name when UDMG_NODE_ID is
// invalid, which the node registry warns about), the OS user it runs as (the name of its
// effective uid, or "uid N" without one), pid and `program`, sealed with the key derived from
// `k0` (empty: the entries are unkeyed, which only a refusal may be).
db::AuditSigner AuditSignerFor(std::string program, std::span<const uint8_t> k0);

// The whole trail checked against the keys of every root version `keyring` holds (older K0s
// unwrapped by `current_k0`, the current root key), and against `expected` when given.
Result<AuditVerdict> VerifyAuditTrail(db::AuditStore& store, const KeyringRecords& keyring,
                                      std::span<const uint8_t> current_k0,
                                      const std::optional<AuditHead>& expected);

// Why `verdict` is not a verified trail, as one sentence (the first broken entry, or the kept head
// `expected` no longer held); nullopt when it is.
std::optional<std::string> AuditTrailProblem(const AuditVerdict& verdict,
                                             const std::optional<AuditHead>& expected);

}  // namespace udmg::pipeline
