// SqliteStore, the audit trail: entries appended under the write lock (BEGIN IMMEDIATE), so that
// each one chains to the entry committed before it.
#include <string>
#include <vector>

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {

Status SqliteStore::AppendAuditLocked(const AuditEvent& event,
                                      const std::optional<KeyringRecords>& keyring) {
  constexpr std::string_view kWhat = "appending to the audit trail";
  UDMG_ASSIGN_OR_RETURN(
      Statement last, connection_->Prepare(
                          "SELECT coalesce((SELECT seq FROM udmg_audit ORDER BY seq DESC LIMIT 1), "
                          "0), coalesce((SELECT mac FROM udmg_audit ORDER BY seq DESC LIMIT 1), "
                          "''), CAST(strftime('%s', 'now') AS INTEGER)",
                          kWhat));
  UDMG_ASSIGN_OR_RETURN(bool has_row, last.Step());
  if (!has_row) return Error{ErrorCode::kInternal, "the audit trail's head read no row"};
  const int64_t seq = last.Int(0) + 1;
  const AuditMac previous = seq == 1 ? AuditMac{} : internal::AuditMacFromText(last.Text(1));
  UDMG_ASSIGN_OR_RETURN(
      const AuditEntry entry,
      internal::MakeAuditEntry(audit_signer(), event, keyring, seq, last.Int(2), previous));
  return connection_->Execute(
      "INSERT INTO udmg_audit (seq, at, node, os_user, pid, command, event, outcome, root_before, "
      "root_after, master_before, master_after, k0_fingerprint, key_version, mac, detail) VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
      kWhat, entry.seq, entry.at, entry.node, entry.os_user, entry.pid, entry.command, entry.event,
      entry.outcome, entry.root_before, entry.root_after, entry.master_before, entry.master_after,
      entry.k0_fingerprint, entry.key_version, internal::AuditMacText(entry.mac), entry.detail);
}

Status SqliteStore::AppendKeyringKeptLocked(const KeptKeyringEvent& make) {
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> keyring, ReadKeyringRows());
  if (!keyring) return Status::Ok();
  return AppendAuditLocked(make(*keyring), keyring);
}

Status SqliteStore::AppendJobStateLocked(const JobRecord& job, std::optional<JobState> from) {
  if (from == job.state) return Status::Ok();
  return AppendKeyringKeptLocked(
      [&](const KeyringRecords& keyring) { return *JobStateEvent(keyring, job, from, job.state); });
}

Status SqliteStore::AppendRefusal(std::string_view event, std::string_view reason) {
  return InTransaction(*connection_, Transaction::Kind::kWrite,
                       "recording a refusal in the audit trail", [&]() -> Status {
                         return AppendKeyringKeptLocked([&](const KeyringRecords& keyring) {
                           return RefusalEvent(keyring, event, reason);
                         });
                       });
}

Result<std::vector<AuditEntry>> SqliteStore::ListAudit() {
  return connection_->ReadRows<AuditEntry>(
      "SELECT seq, at, node, os_user, pid, command, event, outcome, root_before, root_after, "
      "master_before, master_after, k0_fingerprint, key_version, mac, detail FROM udmg_audit "
      "ORDER BY seq",
      "reading the audit trail", [](const Statement& row) -> Result<AuditEntry> {
        AuditEntry entry;
        entry.seq = row.Int(0);
        entry.at = row.Int(1);
        entry.node = row.Text(2);
        entry.os_user = row.Text(3);
        entry.pid = row.Int(4);
        entry.command = row.Text(5);
        entry.event = row.Text(6);
        entry.outcome = row.Text(7);
        entry.root_before = static_cast<uint32_t>(row.Int(8));
        entry.root_after = static_cast<uint32_t>(row.Int(9));
        entry.master_before = static_cast<uint32_t>(row.Int(10));
        entry.master_after = static_cast<uint32_t>(row.Int(11));
        entry.k0_fingerprint = row.Text(12);
        entry.key_version = static_cast<uint32_t>(row.Int(13));
        entry.mac = internal::AuditMacFromText(row.Text(14));
        entry.detail = row.Text(15);
        return entry;
      });
}

}  // namespace udmg::db::sqlite
