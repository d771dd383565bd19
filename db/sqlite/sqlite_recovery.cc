// SqliteStore, disaster recovery and nodes: backups taken, nodes seen, keyring rows set
// aside, and the checked keyring change (value counts and the running-job check under the lock).
#include <string>
#include <vector>

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {

Result<std::string> SqliteStore::KeyringId() {
  UDMG_ASSIGN_OR_RETURN(
      Statement id, connection_->Prepare("SELECT keyring_id FROM udmg_meta WHERE singleton = 1",
                                         "reading the keyring id"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, id.Step());
  return has_row ? id.Text(0) : std::string();
}

// ---- Backups ----------------------------------------------------------------------------------

Status SqliteStore::RecordBackup(const BackupRecord& backup) {
  constexpr std::string_view kWhat = "recording a backup";
  return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    UDMG_RETURN_IF_ERROR(connection_->Execute(
        "INSERT INTO udmg_backups (taken_at, root_version, root_fingerprint, keyring_revision) "
        "VALUES (?1, ?2, ?3, ?4)",
        kWhat, backup.taken_at, backup.root_version, backup.root_fingerprint,
        backup.keyring_revision));
    return AppendKeyringKeptLocked(
        [&](const KeyringRecords& keyring) { return BackupEvent(keyring, backup); });
  });
}

Result<std::optional<BackupRecord>> SqliteStore::LatestBackup() {
  UDMG_ASSIGN_OR_RETURN(
      Statement latest,
      connection_->Prepare("SELECT taken_at, root_version, root_fingerprint, keyring_revision "
                           "FROM udmg_backups ORDER BY taken_at DESC, id DESC LIMIT 1",
                           "reading the latest backup"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, latest.Step());
  if (!has_row) return std::optional<BackupRecord>();
  return std::optional<BackupRecord>(BackupRecord{latest.Int(0),
                                                  static_cast<uint32_t>(latest.Int(1)),
                                                  latest.Text(2), latest.Int(3)});
}

// ---- Nodes ------------------------------------------------------------------------------------

Status SqliteStore::RecordNode(const NodeRecord& node) {
  UDMG_RETURN_IF_ERROR(internal::ValidateNodeRecord(node));
  // first_seen is written only with the row: an update keeps the node's first appearance.
  return ExecuteInWriteTransaction(
      *connection_,
      "INSERT INTO udmg_nodes (node_id, host, pid, program, root_version, root_fingerprint, "
      "first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
      "program = excluded.program, root_version = excluded.root_version, "
      "root_fingerprint = excluded.root_fingerprint, last_seen = excluded.last_seen",
      "recording this node", node.node_id, node.host, node.pid, node.program, node.root_version,
      node.root_fingerprint, node.first_seen, node.last_seen);
}

Result<std::vector<NodeRecord>> SqliteStore::ListNodes() {
  return connection_->ReadRows<NodeRecord>(
      "SELECT node_id, host, pid, program, root_version, root_fingerprint, first_seen, last_seen "
      "FROM udmg_nodes ORDER BY node_id",
      "listing the nodes", [](const Statement& row) -> Result<NodeRecord> {
        NodeRecord node;
        node.node_id = row.Text(0);
        node.host = row.Text(1);
        node.pid = row.Int(2);
        node.program = row.Text(3);
        if (!row.IsNull(4)) node.root_version = static_cast<uint32_t>(row.Int(4));
        node.root_fingerprint = row.Text(5);
        node.first_seen = row.Int(6);
        node.last_seen = row.Int(7);
        return node;
      });
}

// ---- Checked keyring change -----------------------------------------------------------------

Status SqliteStore::RefuseRunningJob() {
  UDMG_ASSIGN_OR_RETURN(
      Statement running,
      connection_->Prepare("SELECT id, kind FROM udmg_jobs WHERE state = 'running' "
                           "ORDER BY id DESC LIMIT 1",
                           "looking for a running job"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, running.Step());
  if (!has_row) return Status::Ok();
  return internal::JobIsRunning(running.Int(0), running.Text(1));
}

Result<VersionUsage> SqliteStore::CountVersionUsage() {
  // Same connection, same transaction: the counts are those of the snapshot the lock protects.
  UDMG_ASSIGN_OR_RETURN(std::vector<ColumnRef> columns, ListColumns());
  VersionUsage usage;
  for (const ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(ValueCounts counts, CountValues(column));
    internal::AddVersionUsage(column, counts, usage);
  }
  return usage;
}

Status SqliteStore::InsertArchivedRows(const std::vector<ArchivedKeyRow>& archived) {
  if (archived.empty()) return Status::Ok();
  UDMG_ASSIGN_OR_RETURN(
      Statement insert,
      connection_->Prepare("INSERT INTO udmg_replaced_keys (replaced_at, kind, version, row_json, "
                           "reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                           "setting replaced keyring rows aside"));
  int64_t now = internal::UnixNow();
  for (const ArchivedKeyRow& row : archived) {
    insert.BindAll(now, row.kind, row.version, row.row_json, row.reason);
    UDMG_RETURN_IF_ERROR(insert.Run());
  }
  return Status::Ok();
}

Status SqliteStore::UpdateKeyringChecked(const CheckedKeyringChange& change,
                                         bool refuse_while_job_runs) {
  return ChangeKeyringUnderLock(
      [&](const std::optional<KeyringRecords>& current,
          const std::string& keyring_id) -> Result<std::optional<KeyringReplacement>> {
        if (refuse_while_job_runs) UDMG_RETURN_IF_ERROR(RefuseRunningJob());
        UDMG_ASSIGN_OR_RETURN(VersionUsage usage, CountVersionUsage());
        return internal::CallKeyringChange([&] { return change(current, keyring_id, usage); });
      });
}

Result<std::vector<ReplacedKeyRecord>> SqliteStore::ListReplacedKeys() {
  return connection_->ReadRows<ReplacedKeyRecord>(
      "SELECT kind, version, row_json, reason, replaced_at FROM udmg_replaced_keys ORDER BY id",
      "listing replaced keyring rows", [](const Statement& row) -> Result<ReplacedKeyRecord> {
        return ReplacedKeyRecord{ArchivedKeyRow{row.Text(0), static_cast<uint32_t>(row.Int(1)),
                                                row.Text(2), row.Text(3)},
                                 row.Int(4)};
      });
}

}  // namespace udmg::db::sqlite
