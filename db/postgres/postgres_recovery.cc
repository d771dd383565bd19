// PgStore, disaster recovery and nodes: backups taken, nodes seen, keyring rows set
// aside, and the checked keyring change (value counts and the running-job check in the same
// transaction, under the keyring's advisory lock).
#include <string>
#include <vector>

#include "db/postgres/postgres_audit.h"
#include "db/postgres/postgres_store.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// Inside the keyring change's transaction: the newest job in state "running" makes it kConflict.
Status RefuseRunningJob(pqxx::transaction_base& transaction) {
  pqxx::result running = transaction.exec(
      "SELECT id, kind FROM udmg_jobs WHERE state = 'running' ORDER BY id DESC LIMIT 1");
  if (running.empty()) return Status::Ok();
  return internal::JobIsRunning(running[0][0].as<int64_t>(), running[0][1].as<std::string>());
}

// Inside the keyring change's transaction: CountValues of every registered column, by version.
// Not through connection_->Run: a second transaction cannot open on a connection while this one is.
// A table whose rows row-level security may hide gives no count: a version its hidden rows use
// would look unused.
// Each table is the registered one (its stored schema), whatever the search_path.
Result<VersionUsage> CountVersionUsage(pqxx::transaction_base& transaction,
                                       const std::string& user_schemas) {
  VersionUsage usage;
  for (const ColumnRef& column : ListColumnsIn(transaction)) {
    UDMG_ASSIGN_OR_RETURN(std::optional<ResolvedTable> table,
                          ResolveTableIn(transaction, user_schemas, column.table));
    if (!table) {
      return Error{ErrorCode::kNotFound,
                   "cannot count the values of " + column.Name() + ": its table does not exist; "
                   "restore it or unregister the column (udmg-server columns remove " +
                       column.Name() + "); nothing was changed"};
    }
    if (std::optional<std::string> hidden = RowsHiddenIn(transaction, table->sql)) {
      return Error{ErrorCode::kDatabase, "cannot see every row of " + column.Name() + ": " +
                                             *hidden + "; nothing was changed"};
    }
    internal::AddVersionUsage(column, CountValuesIn(transaction, column, table->sql), usage);
  }
  return usage;
}

}  // namespace

Result<std::string> PgStore::KeyringId() {
  return connection_->Read<std::string>(
      "reading the keyring id", [&](pqxx::transaction_base& transaction) -> Result<std::string> {
        pqxx::result id = transaction.exec("SELECT keyring_id FROM udmg_meta WHERE singleton = 1");
        return id.empty() ? std::string() : id[0][0].as<std::string>();
      });
}

// ---- Backups ----------------------------------------------------------------------------------

Status PgStore::RecordBackup(const BackupRecord& backup) {
  // Not idempotent: a rerun after a lost COMMIT would append a second audit entry.
  return connection_->RunStatus(
      "recording a backup", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);  // for the audit entry, appended below
        transaction.exec_params(
            "INSERT INTO udmg_backups (taken_at, root_version, root_fingerprint, "
            "keyring_revision) VALUES ($1, $2, $3, $4)",
            backup.taken_at, backup.root_version, backup.root_fingerprint, backup.keyring_revision);
        UDMG_RETURN_IF_ERROR(AppendKeyringKeptEntry(
            transaction, audit_signer(), Describe(),
            [&](const KeyringRecords& keyring) { return BackupEvent(keyring, backup); }));
        transaction.commit();
        return Status::Ok();
      });
}

Result<std::optional<BackupRecord>> PgStore::LatestBackup() {
  return connection_->Read<std::optional<BackupRecord>>(
      "reading the latest backup",
      [&](pqxx::transaction_base& transaction) -> Result<std::optional<BackupRecord>> {
        pqxx::result latest = transaction.exec(
            "SELECT taken_at, root_version, root_fingerprint, keyring_revision "
            "FROM udmg_backups ORDER BY taken_at DESC, id DESC LIMIT 1");
        if (latest.empty()) return std::optional<BackupRecord>();
        const pqxx::row& row = latest[0];
        return std::optional<BackupRecord>(BackupRecord{row[0].as<int64_t>(),
                                                        row[1].as<uint32_t>(),
                                                        row[2].as<std::string>(),
                                                        row[3].as<int64_t>()});
      });
}

// ---- Nodes ------------------------------------------------------------------------------------

Status PgStore::RecordNode(const NodeRecord& node) {
  UDMG_RETURN_IF_ERROR(internal::ValidateNodeRecord(node));
  // An upsert of the same row: running it again after a lost COMMIT leaves the same row.
  // A null const char* binds SQL NULL (unknown K0: no root version).
  std::string root_version = node.root_version ? std::to_string(*node.root_version) : "";
  // first_seen is written only with the row: an update keeps the node's first appearance.
  return connection_->Execute(
      "recording this node", Retry::kIdempotent,
      "INSERT INTO udmg_nodes (node_id, host, pid, program, root_version, root_fingerprint, "
      "first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
      "ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
      "program = excluded.program, root_version = excluded.root_version, "
      "root_fingerprint = excluded.root_fingerprint, last_seen = excluded.last_seen",
      node.node_id, node.host, node.pid, node.program,
      node.root_version ? root_version.c_str() : nullptr, node.root_fingerprint, node.first_seen,
      node.last_seen);
}

Result<std::vector<NodeRecord>> PgStore::ListNodes() {
  // Byte order, as SQLite sorts, so both backends list nodes alike.
  return connection_->ReadRows<NodeRecord>(
      "listing the nodes",
      "SELECT node_id, host, pid, program, root_version, root_fingerprint, first_seen, last_seen "
      "FROM udmg_nodes ORDER BY node_id COLLATE \"C\"",
      [](const pqxx::row& row) -> Result<NodeRecord> {
        NodeRecord node;
        node.node_id = row[0].as<std::string>();
        node.host = row[1].as<std::string>();
        node.pid = row[2].as<int64_t>();
        node.program = row[3].as<std::string>();
        if (!row[4].is_null()) node.root_version = row[4].as<uint32_t>();
        node.root_fingerprint = row[5].as<std::string>();
        node.first_seen = row[6].as<int64_t>();
        node.last_seen = row[7].as<int64_t>();
        return node;
      });
}

// ---- Checked keyring change -----------------------------------------------------------------

Status PgStore::UpdateKeyringChecked(const CheckedKeyringChange& change,
                                     bool refuse_while_job_runs) {
  return ChangeKeyringUnderLock(
      "changing the keyring (values counted under its lock)",
      [&](pqxx::transaction_base& transaction, const std::optional<KeyringRecords>& current,
          const std::string& keyring_id) -> Result<std::optional<KeyringReplacement>> {
        if (refuse_while_job_runs) UDMG_RETURN_IF_ERROR(RefuseRunningJob(transaction));
        UDMG_ASSIGN_OR_RETURN(VersionUsage usage,
                              CountVersionUsage(transaction, connection_->user_schemas()));
        return internal::CallKeyringChange([&] { return change(current, keyring_id, usage); });
      });
}

Result<std::vector<ReplacedKeyRecord>> PgStore::ListReplacedKeys() {
  return connection_->ReadRows<ReplacedKeyRecord>(
      "listing replaced keyring rows",
      "SELECT kind, version, row_json, reason, replaced_at FROM udmg_replaced_keys ORDER BY id",
      [](const pqxx::row& row) -> Result<ReplacedKeyRecord> {
        return ReplacedKeyRecord{ArchivedKeyRow{row[0].as<std::string>(), row[1].as<uint32_t>(),
                                                row[2].as<std::string>(), row[3].as<std::string>()},
                                 row[4].as<int64_t>()};
      });
}

}  // namespace udmg::db::postgres
