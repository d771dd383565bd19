// PgStore's audit trail, inside a transaction: appending the next entry (the caller holds the
// keyring's advisory lock, so each entry chains to the one committed before it) and reading one.
#pragma once

#include <optional>

#include <pqxx/pqxx>

#include "db/store.h"

namespace udmg::db::postgres {

// Appends `event` as the trail's next entry, sealed by `signer`; `keyring` is the one the
// transaction leaves (it names the signer's root version).
void AppendAuditEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                      const AuditEvent& event, const std::optional<KeyringRecords>& keyring);

}  // namespace udmg::db::postgres
