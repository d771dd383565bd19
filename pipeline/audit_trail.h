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
// `k0` (empty: the entries are unkeyed, which only a refusal or a job's state change may be).
db::AuditSigner AuditSignerFor(std::string program, std::span<const uint8_t> k0);

// The audit event of `error` when it is a refused attempt: "root-key" (kWrongKey: this process's
// K0 is not the current root key) or "conflict" (kConflict: a job or another change stood in
// the way); nullopt for any other error.
std::optional<std::string_view> RefusedEventOf(const Error& error);

// Records `error` in the trail when it is a refused attempt, in a transaction of its own
// (db::AuditStore::AppendRefusal), sealed by `store`'s signer when its K0 is current. False when
// `error` is no refusal or the entry could not be appended (a hot standby, a role without INSERT
// on udmg_audit, the database gone): the refusal's own error is what its caller reports.
bool RecordRefusal(db::AuditStore& store, const Error& error);

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
