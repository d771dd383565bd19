// SqliteStore: opening, schema, keyring and nonce-budget counters.
#include "db/sqlite/sqlite_store.h"

#include "db/sqlite/sqlite_schema.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {

Result<std::unique_ptr<Store>> OpenSqliteStore(std::string_view path, OpenMode mode) {
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Connection::Open(path, mode));
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(connection)));
}

Status SqliteStore::Migrate() { return MigrateSchema(*connection_); }

// data_version changes with every commit of another connection, in WAL mode too, and never with
// this connection's own.
Result<std::optional<int64_t>> SqliteStore::OthersCommitMark() {
  return connection_->QueryInt("PRAGMA data_version", "reading the database's data version");
}

// ---- Keyring --------------------------------------------------------------------------------

Result<std::optional<KeyringRecords>> SqliteStore::ReadKeyringRows() {
  constexpr std::string_view kWhat = "reading the keyring";
  KeyringRecords records;
  {
    UDMG_ASSIGN_OR_RETURN(Statement roots,
                          connection_->Prepare("SELECT version, fingerprint, wrapped_key, "
                                               "wrapped_by, created_at FROM udmg_root_keys "
                                               "ORDER BY version",
                                               kWhat));
    UDMG_RETURN_IF_ERROR(roots.ForEachRow([&](const Statement& row) {
      RootKeyRecord& root = records.roots.emplace_back();
      root.version = static_cast<uint32_t>(row.Int(0));
      root.fingerprint = row.Text(1);
      root.wrapped_key = row.OptionalText(2);
      if (!row.IsNull(3)) root.wrapped_by = static_cast<uint32_t>(row.Int(3));
      root.created_at = row.Int(4);
    }));
  }
  {
    UDMG_ASSIGN_OR_RETURN(Statement masters,
                          connection_->Prepare("SELECT version, k3, root_version, state, "
                                               "created_at FROM udmg_master_keys ORDER BY version",
                                               kWhat));
    UDMG_RETURN_IF_ERROR(masters.ForEachRow([&](const Statement& row) -> Status {
      MasterKeyRecord& master = records.masters.emplace_back();
      master.version = static_cast<uint32_t>(row.Int(0));
      master.k3 = row.Text(1);
      master.root_version = static_cast<uint32_t>(row.Int(2));
      std::optional<MasterKeyState> state = ParseMasterKeyState(row.Text(3));
      if (!state) {
        return Status(ErrorCode::kDatabase, Describe() + ": master key version " +
                                                std::to_string(master.version) +
                                                " has an unknown state; restore the keyring");
      }
      master.state = *state;
      master.created_at = row.Int(4);
      return Status::Ok();
    }));
  }
  if (records.roots.empty() && records.masters.empty()) return std::optional<KeyringRecords>();
  UDMG_ASSIGN_OR_RETURN(records.revision, KeyringRevision());
  return std::optional<KeyringRecords>(std::move(records));
}

Result<std::optional<KeyringRecords>> SqliteStore::LoadKeyring() {
  // One snapshot: roots, masters and revision from the same committed keyring.
  UDMG_ASSIGN_OR_RETURN(
      Transaction snapshot,
      Transaction::Begin(*connection_, Transaction::Kind::kRead, "reading the keyring"));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> records, ReadKeyringRows());
  UDMG_RETURN_IF_ERROR(snapshot.Commit());
  return records;
}

Result<int64_t> SqliteStore::KeyringRevision() {
  UDMG_ASSIGN_OR_RETURN(
      Statement revision,
      connection_->Prepare("SELECT keyring_revision FROM udmg_meta WHERE singleton = 1",
                           "reading the keyring revision"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, revision.Step());
  return has_row ? revision.Int(0) : int64_t{0};
}

Status SqliteStore::ReplaceKeyringRows(const KeyringRecords& records,
                                       const std::string& new_keyring_id) {
  constexpr std::string_view kWhat = "writing the keyring";
  UDMG_RETURN_IF_ERROR(connection_->ExecuteScript(
      "DELETE FROM udmg_master_keys; DELETE FROM udmg_root_keys;", kWhat));
  {
    UDMG_ASSIGN_OR_RETURN(Statement insert,
                          connection_->Prepare("INSERT INTO udmg_root_keys (version, fingerprint, "
                                               "wrapped_key, wrapped_by, created_at) "
                                               "VALUES (?1, ?2, ?3, ?4, ?5)",
                                               kWhat));
    for (const RootKeyRecord& root : records.roots) {
      insert.BindAll(root.version, root.fingerprint, root.wrapped_key, root.wrapped_by,
                     root.created_at);
      UDMG_RETURN_IF_ERROR(insert.Run());
    }
  }
  {
    UDMG_ASSIGN_OR_RETURN(Statement insert,
                          connection_->Prepare("INSERT INTO udmg_master_keys (version, k3, "
                                               "root_version, state, created_at) "
                                               "VALUES (?1, ?2, ?3, ?4, ?5)",
                                               kWhat));
    for (const MasterKeyRecord& master : records.masters) {
      insert.BindAll(master.version, master.k3, master.root_version,
                     MasterKeyStateName(master.state), master.created_at);
      UDMG_RETURN_IF_ERROR(insert.Run());
    }
  }
  // The keyring id is made once, with the first keyring (a restore into an empty database brings
  // the backup's); every write bumps the revision.
  return connection_->Execute(
      "INSERT INTO udmg_meta (singleton, keyring_id, keyring_revision) "
      "VALUES (1, coalesce(nullif(?1, ''), lower(hex(randomblob(16)))), 1) "
      "ON CONFLICT (singleton) DO UPDATE SET keyring_revision = keyring_revision + 1",
      kWhat, new_keyring_id);
}

Status SqliteStore::ChangeKeyringUnderLock(const KeyringDecision& decide) {
  UDMG_ASSIGN_OR_RETURN(
      Transaction transaction,
      Transaction::Begin(*connection_, Transaction::Kind::kWrite, "writing the keyring"));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> current, ReadKeyringRows());
  UDMG_ASSIGN_OR_RETURN(std::string keyring_id, KeyringId());
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringReplacement> replacement,
                        decide(current, keyring_id));
  if (!replacement) return Status::Ok();  // the transaction rolls back: nothing to write
  UDMG_RETURN_IF_ERROR(internal::ValidateReplacement(*replacement, keyring_id));
  UDMG_RETURN_IF_ERROR(ReplaceKeyringRows(replacement->records, replacement->keyring_id));
  UDMG_RETURN_IF_ERROR(InsertArchivedRows(replacement->archived));
  UDMG_RETURN_IF_ERROR(
      AppendAuditLocked(ReplacementEvent(current, *replacement), replacement->records));
  return transaction.Commit();
}

Status SqliteStore::UpdateKeyring(const KeyringChange& change) {
  return ChangeKeyringUnderLock(
      [&](const std::optional<KeyringRecords>& current,
          const std::string&) -> Result<std::optional<KeyringReplacement>> {
        UDMG_ASSIGN_OR_RETURN(KeyringRecords records,
                              internal::CallKeyringChange([&] { return change(current); }));
        return std::optional<KeyringReplacement>(KeyringReplacement{std::move(records), "", {}});
      });
}

// ---- Nonce budget ---------------------------------------------------------------------------

Result<Store::EncryptionCounts> SqliteStore::AddEncryptions(const EncryptionCounts& by_version) {
  constexpr std::string_view kWhat = "counting encryptions per master version";
  EncryptionCounts totals;
  if (by_version.empty()) return totals;
  Status added = InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
    UDMG_ASSIGN_OR_RETURN(
        Statement add,
        connection_->Prepare("INSERT INTO udmg_key_usage (version, encryptions) VALUES (?1, ?2) "
                             "ON CONFLICT (version) DO UPDATE SET "
                             "encryptions = encryptions + excluded.encryptions "
                             "RETURNING encryptions",
                             kWhat));
    for (const auto& [version, count] : by_version) {
      add.BindAll(version, static_cast<int64_t>(count));
      // Not captured as `version`: clang 14 refuses to capture a structured binding.
      uint64_t& total = totals[version];
      UDMG_RETURN_IF_ERROR(
          add.ForEachRow([&](const Statement& row) { total = static_cast<uint64_t>(row.Int(0)); }));
      add.Reset();
    }
    return Status::Ok();
  });
  if (!added.ok()) return added.error();
  return totals;
}

Result<std::map<uint32_t, uint64_t>> SqliteStore::LoadEncryptions() {
  UDMG_ASSIGN_OR_RETURN(
      Statement usage,
      connection_->Prepare("SELECT version, encryptions FROM udmg_key_usage ORDER BY version",
                           "reading encryptions per master version"));
  std::map<uint32_t, uint64_t> by_version;
  UDMG_RETURN_IF_ERROR(usage.ForEachRow([&](const Statement& row) {
    by_version[static_cast<uint32_t>(row.Int(0))] = static_cast<uint64_t>(row.Int(1));
  }));
  return by_version;
}

// ---- Cryptoperiod policy --------------------------------------------------------------------

Result<PolicyRows> SqliteStore::ReadPolicyRows() {
  UDMG_ASSIGN_OR_RETURN(Statement read, connection_->Prepare("SELECT name, value FROM udmg_policy",
                                                             "reading the key policy"));
  PolicyRows rows;
  UDMG_RETURN_IF_ERROR(
      read.ForEachRow([&](const Statement& row) { rows[row.Text(0)] = row.Int(1); }));
  return rows;
}

Result<KeyPolicy> SqliteStore::LoadPolicy() {
  UDMG_ASSIGN_OR_RETURN(PolicyRows rows, ReadPolicyRows());
  return PolicyFromRows(rows);
}

Status SqliteStore::UpdatePolicy(const PolicyChange& change) {
  constexpr std::string_view kWhat = "writing the key policy";
  // BEGIN IMMEDIATE is the keyring lock: the audit entry chains to the one committed before it.
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, kWhat));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> keyring, ReadKeyringRows());
  if (!keyring) return internal::NoKeyring();
  UDMG_ASSIGN_OR_RETURN(PolicyRows rows, ReadPolicyRows());
  UDMG_ASSIGN_OR_RETURN(KeyPolicy policy, change(ValidLimitsOf(rows)));
  UDMG_RETURN_IF_ERROR(ValidatePolicy(policy));
  UDMG_RETURN_IF_ERROR(connection_->Execute("DELETE FROM udmg_policy", kWhat));
  for (const auto& [name, value] : PolicyToRows(policy)) {
    UDMG_RETURN_IF_ERROR(connection_->Execute(
        "INSERT INTO udmg_policy (name, value) VALUES (?1, ?2)", kWhat, name, value));
  }
  UDMG_RETURN_IF_ERROR(AppendAuditLocked(PolicyChangeEvent(*keyring), keyring));
  return transaction.Commit();
}

}  // namespace udmg::db::sqlite
