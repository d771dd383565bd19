// PgStore's audit trail, inside a transaction: appending the next entry (the caller holds the
// keyring's advisory lock, so each entry chains to the one committed before it) and reading one.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "db/store.h"

namespace udmg::db::postgres {

// Takes the keyring lock (pg_advisory_xact_lock(kKeyringLockId)) until `transaction` ends: every
// keyring change, and every audit entry, is made under it.
void LockKeyring(pqxx::transaction_base& transaction);

// Appends `event` as the trail's next entry, sealed by `signer`; `keyring` is the one the
// transaction leaves (it names the signer's root version).
// kWrongKey (nothing appended) as MakeAuditEntry says.
Status AppendAuditEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                        const AuditEvent& event, const std::optional<KeyringRecords>& keyring);

// Appends the entry of a change that leaves the keyring as it is, `make` naming it from the
// keyring as `transaction` reads it; nothing before `init` (no keyring, no key to seal with). The
// caller holds the keyring lock. `describe` names the database (ReadKeyringRows).
using KeptKeyringEvent = std::function<AuditEvent(const KeyringRecords& keyring)>;
Status AppendKeyringKeptEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                              const std::string& describe, const KeptKeyringEvent& make);

// The audit entry of `job` moving from state `from` (nullopt: just created) to `job.state`
// (JobStateEvent; nothing when it stays), taking the keyring lock.
Status AppendJobStateEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                           const std::string& describe, const JobRecord& job,
                           std::optional<JobState> from);

}  // namespace udmg::db::postgres
