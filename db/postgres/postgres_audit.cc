#include "db/postgres/postgres_audit.h"

#include <string>
#include <vector>

#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {

void LockKeyring(pqxx::transaction_base& transaction) {
  transaction.exec_params("SELECT pg_advisory_xact_lock($1)", kKeyringLockId);
}

Status AppendAuditEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                        const AuditEvent& event, const std::optional<KeyringRecords>& keyring) {
  // The database's clock, read in the entry's own transaction.
  pqxx::row head = transaction.exec1(
      "SELECT coalesce((SELECT seq FROM udmg_audit ORDER BY seq DESC LIMIT 1), 0), "
      "coalesce((SELECT mac FROM udmg_audit ORDER BY seq DESC LIMIT 1), ''), "
      "extract(epoch FROM statement_timestamp())::bigint");
  const int64_t seq = head[0].as<int64_t>() + 1;
  const AuditMac previous =
      seq == 1 ? AuditMac{} : internal::AuditMacFromText(head[1].as<std::string>());
  UDMG_ASSIGN_OR_RETURN(
      const AuditEntry entry,
      internal::MakeAuditEntry(signer, event, keyring, seq, head[2].as<int64_t>(), previous));
  transaction.exec_params(
      "INSERT INTO udmg_audit (seq, at, node, os_user, pid, command, event, outcome, root_before, "
      "root_after, master_before, master_after, k0_fingerprint, key_version, mac, detail) VALUES "
      "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
      entry.seq, entry.at, entry.node, entry.os_user, entry.pid, entry.command, entry.event,
      entry.outcome, entry.root_before, entry.root_after, entry.master_before, entry.master_after,
      entry.k0_fingerprint, entry.key_version, internal::AuditMacText(entry.mac), entry.detail);
  return Status::Ok();
}

Status AppendKeyringKeptEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                              const std::string& describe, const KeptKeyringEvent& make) {
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> keyring,
                        ReadKeyringRows(transaction, describe));
  if (!keyring) return Status::Ok();
  return AppendAuditEntry(transaction, signer, make(*keyring), keyring);
}

Status AppendJobStateEntry(pqxx::transaction_base& transaction, const AuditSigner& signer,
                           const std::string& describe, const JobRecord& job,
                           std::optional<JobState> from) {
  if (from == job.state) return Status::Ok();
  LockKeyring(transaction);
  return AppendKeyringKeptEntry(transaction, signer, describe, [&](const KeyringRecords& keyring) {
    return *JobStateEvent(keyring, job, from, job.state);
  });
}

Status PgStore::AppendRefusal(std::string_view event, std::string_view reason) {
  return connection_->RunStatus(
      "recording a refusal in the audit trail", Retry::kNotIdempotent,
      [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);
        UDMG_RETURN_IF_ERROR(AppendKeyringKeptEntry(
            transaction, audit_signer(), Describe(),
            [&](const KeyringRecords& keyring) { return RefusalEvent(keyring, event, reason); }));
        transaction.commit();
        return Status::Ok();
      });
}

Result<std::vector<AuditEntry>> PgStore::ListAudit() {
  return connection_->ReadRows<AuditEntry>(
      "reading the audit trail",
      "SELECT seq, at, node, os_user, pid, command, event, outcome, root_before, root_after, "
      "master_before, master_after, k0_fingerprint, key_version, mac, detail FROM udmg_audit "
      "ORDER BY seq",
      [](const pqxx::row& row) -> Result<AuditEntry> {
        AuditEntry entry;
        entry.seq = row[0].as<int64_t>();
        entry.at = row[1].as<int64_t>();
        entry.node = row[2].as<std::string>();
        entry.os_user = row[3].as<std::string>();
        entry.pid = row[4].as<int64_t>();
        entry.command = row[5].as<std::string>();
        entry.event = row[6].as<std::string>();
        entry.outcome = row[7].as<std::string>();
        // Kept as stored, wrapped to 32 bits: a version edited out of range fails verification.
        entry.root_before = static_cast<uint32_t>(row[8].as<int64_t>());
        entry.root_after = static_cast<uint32_t>(row[9].as<int64_t>());
        entry.master_before = static_cast<uint32_t>(row[10].as<int64_t>());
        entry.master_after = static_cast<uint32_t>(row[11].as<int64_t>());
        entry.k0_fingerprint = row[12].as<std::string>();
        entry.key_version = static_cast<uint32_t>(row[13].as<int64_t>());
        entry.mac = internal::AuditMacFromText(row[14].as<std::string>());
        entry.detail = row[15].as<std::string>();
        return entry;
      });
}

}  // namespace udmg::db::postgres
