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
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement insert,
        connection_->Prepare("INSERT INTO udmg_backups (taken_at, root_version, root_fingerprint, "
                             "keyring_revision) VALUES (?1, ?2, ?3, ?4)",
                             kWhat));
    insert.BindInt(1, backup.taken_at);
    insert.BindInt(2, backup.root_version);
    insert.BindText(3, backup.root_fingerprint);
    insert.BindInt(4, backup.keyring_revision);
    UDMG_RETURN_IF_ERROR(insert.Run());
  }
  return transaction.Commit();
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
  constexpr std::string_view kWhat = "recording this node";
  UDMG_RETURN_IF_ERROR(internal::ValidateNodeRecord(node));
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  {
    // first_seen is written only with the row: an update keeps the node's first appearance.
    UDMG_ASSIGN_OR_RETURN(
        Statement upsert,
        connection_->Prepare(
            "INSERT INTO udmg_nodes (node_id, host, pid, program, root_version, root_fingerprint, "
            "first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
            "program = excluded.program, root_version = excluded.root_version, "
            "root_fingerprint = excluded.root_fingerprint, last_seen = excluded.last_seen",
            kWhat));
    upsert.BindText(1, node.node_id);
    upsert.BindText(2, node.host);
    upsert.BindInt(3, node.pid);
    upsert.BindText(4, node.program);
    upsert.BindOptionalInt(5, node.root_version ? std::optional<int64_t>(*node.root_version)
                                                : std::nullopt);
    upsert.BindText(6, node.root_fingerprint);
    upsert.BindInt(7, node.first_seen);
    upsert.BindInt(8, node.last_seen);
    UDMG_RETURN_IF_ERROR(upsert.Run());
  }
  return transaction.Commit();
}

Result<std::vector<NodeRecord>> SqliteStore::ListNodes() {
  UDMG_ASSIGN_OR_RETURN(
      Statement list,
      connection_->Prepare("SELECT node_id, host, pid, program, root_version, root_fingerprint, "
                           "first_seen, last_seen FROM udmg_nodes ORDER BY node_id",
                           "listing the nodes"));
  std::vector<NodeRecord> nodes;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, list.Step());
    if (!has_row) break;
    NodeRecord& node = nodes.emplace_back();
    node.node_id = list.Text(0);
    node.host = list.Text(1);
    node.pid = list.Int(2);
    node.program = list.Text(3);
    if (!list.IsNull(4)) node.root_version = static_cast<uint32_t>(list.Int(4));
    node.root_fingerprint = list.Text(5);
    node.first_seen = list.Int(6);
    node.last_seen = list.Int(7);
  }
  return nodes;
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
    insert.BindInt(1, now);
    insert.BindText(2, row.kind);
    insert.BindInt(3, row.version);
    insert.BindText(4, row.row_json);
    insert.BindText(5, row.reason);
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
  UDMG_ASSIGN_OR_RETURN(
      Statement list,
      connection_->Prepare("SELECT kind, version, row_json, reason, replaced_at "
                           "FROM udmg_replaced_keys ORDER BY id",
                           "listing replaced keyring rows"));
  std::vector<ReplacedKeyRecord> rows;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, list.Step());
    if (!has_row) break;
    ReplacedKeyRecord& record = rows.emplace_back();
    record.row = ArchivedKeyRow{list.Text(0), static_cast<uint32_t>(list.Int(1)), list.Text(2),
                                list.Text(3)};
    record.replaced_at = list.Int(4);
  }
  return rows;
}

}  // namespace udmg::db::sqlite
