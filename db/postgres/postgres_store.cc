// PgStore: opening, schema, keyring (under the advisory lock) and nonce-budget counters.
#include "db/postgres/postgres_store.h"

#include "db/postgres/postgres_audit.h"
#include "db/postgres/postgres_keys.h"
#include "db/postgres/postgres_schema.h"
#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

std::optional<std::string> OptionalText(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return std::string(field.c_str(), field.size());
}

}  // namespace

Result<std::optional<KeyringRecords>> ReadKeyringRows(pqxx::transaction_base& transaction,
                                                      const std::string& describe) {
  KeyringRecords records;
  for (const pqxx::row& row : transaction.exec(
           "SELECT version, fingerprint, wrapped_key, wrapped_by, created_at "
           "FROM udmg_root_keys ORDER BY version")) {
    RootKeyRecord& root = records.roots.emplace_back();
    root.version = row[0].as<uint32_t>();
    root.fingerprint = row[1].as<std::string>();
    root.wrapped_key = OptionalText(row[2]);
    if (!row[3].is_null()) root.wrapped_by = row[3].as<uint32_t>();
    root.created_at = row[4].as<int64_t>();
  }
  for (const pqxx::row& row :
       transaction.exec("SELECT version, k3, root_version, state, created_at "
                        "FROM udmg_master_keys ORDER BY version")) {
    MasterKeyRecord& master = records.masters.emplace_back();
    master.version = row[0].as<uint32_t>();
    master.k3 = row[1].as<std::string>();
    master.root_version = row[2].as<uint32_t>();
    std::optional<MasterKeyState> state = ParseMasterKeyState(row[3].as<std::string>());
    if (!state) {
      return Error{ErrorCode::kDatabase, describe + ": master key version " +
                                             std::to_string(master.version) +
                                             " has an unknown state; restore the keyring"};
    }
    master.state = *state;
    master.created_at = row[4].as<int64_t>();
  }
  if (records.roots.empty() && records.masters.empty()) return std::optional<KeyringRecords>();
  pqxx::result revision =
      transaction.exec("SELECT keyring_revision FROM udmg_meta WHERE singleton = 1");
  records.revision = revision.empty() ? 0 : revision[0][0].as<int64_t>();
  return std::optional<KeyringRecords>(std::move(records));
}

namespace {

// Replaces the keyring rows and bumps the revision; the first keyring makes udmg_meta with
// `new_keyring_id`, or a random id when it is empty.
void ReplaceKeyringRows(pqxx::transaction_base& transaction, const KeyringRecords& records,
                        const std::string& new_keyring_id) {
  transaction.exec("DELETE FROM udmg_master_keys");
  transaction.exec("DELETE FROM udmg_root_keys");
  for (const RootKeyRecord& root : records.roots) {
    // A null const char* binds SQL NULL.
    std::string wrapped_by = root.wrapped_by ? std::to_string(*root.wrapped_by) : "";
    transaction.exec_params(
        "INSERT INTO udmg_root_keys (version, fingerprint, wrapped_key, wrapped_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        root.version, root.fingerprint, root.wrapped_key ? root.wrapped_key->c_str() : nullptr,
        root.wrapped_by ? wrapped_by.c_str() : nullptr, root.created_at);
  }
  for (const MasterKeyRecord& master : records.masters) {
    transaction.exec_params(
        "INSERT INTO udmg_master_keys (version, k3, root_version, state, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        master.version, master.k3, master.root_version,
        std::string(MasterKeyStateName(master.state)), master.created_at);
  }
  // The keyring id is made once, with the first keyring (a restore into an empty database brings
  // the backup's); every write bumps the revision.
  transaction.exec_params(
      "INSERT INTO udmg_meta (singleton, keyring_id, keyring_revision) "
      "VALUES (1, coalesce(nullif($1, ''), replace(gen_random_uuid()::text, '-', '')), 1) "
      "ON CONFLICT (singleton) "
      "DO UPDATE SET keyring_revision = udmg_meta.keyring_revision + 1",
      new_keyring_id);
}

std::string ReadKeyringId(pqxx::transaction_base& transaction) {
  pqxx::result id = transaction.exec("SELECT keyring_id FROM udmg_meta WHERE singleton = 1");
  return id.empty() ? std::string() : id[0][0].as<std::string>();
}

void InsertArchivedRows(pqxx::transaction_base& transaction,
                        const std::vector<ArchivedKeyRow>& archived) {
  int64_t now = internal::UnixNow();
  for (const ArchivedKeyRow& row : archived) {
    transaction.exec_params(
        "INSERT INTO udmg_replaced_keys (replaced_at, kind, version, row_json, reason) "
        "VALUES ($1, $2, $3, $4, $5)",
        now, row.kind, row.version, row.row_json, row.reason);
  }
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(std::string_view url,
                                                 const PgStoreOptions& options) {
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> connection,
                        PgConnection::Open(url, options.retry));
  if (options.mode == OpenMode::kExisting) UDMG_RETURN_IF_ERROR(RequireSchema(*connection));
  return std::unique_ptr<Store>(std::make_unique<PgStore>(std::move(connection), options));
}

Status PgStore::Migrate() { return MigrateSchema(*connection_); }

// ---- Keyring --------------------------------------------------------------------------------

Result<std::optional<KeyringRecords>> PgStore::LoadKeyring() {
  // One snapshot: roots, masters and revision from the same committed keyring.
  return connection_->ReadSnapshot<std::optional<KeyringRecords>>(
      "reading the keyring",
      [&](pqxx::transaction_base& snapshot) -> Result<std::optional<KeyringRecords>> {
        return ReadKeyringRows(snapshot, Describe());
      });
}

Result<int64_t> PgStore::KeyringRevision() {
  return connection_->Read<int64_t>(
      "reading the keyring revision", [&](pqxx::transaction_base& transaction) -> Result<int64_t> {
        pqxx::result revision = transaction.exec_prepared(
            connection_->Prepared("SELECT keyring_revision FROM udmg_meta WHERE singleton = 1"));
        return revision.empty() ? int64_t{0} : revision[0][0].as<int64_t>();
      });
}

Status PgStore::ChangeKeyringUnderLock(std::string_view what, const KeyringDecision& decide) {
  // Not idempotent: a rerun after a lost COMMIT would apply the change on top of itself.
  return connection_->RunStatus(what, Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
    pqxx::work transaction(live);
    LockKeyring(transaction);
    UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> current,
                          ReadKeyringRows(transaction, Describe()));
    std::string keyring_id = ReadKeyringId(transaction);
    UDMG_ASSIGN_OR_RETURN(std::optional<KeyringReplacement> replacement,
                          decide(transaction, current, keyring_id));
    if (!replacement) return Status::Ok();  // the transaction rolls back: nothing to write
    UDMG_RETURN_IF_ERROR(internal::ValidateReplacement(*replacement, keyring_id));
    ReplaceKeyringRows(transaction, replacement->records, replacement->keyring_id);
    InsertArchivedRows(transaction, replacement->archived);
    UDMG_RETURN_IF_ERROR(AppendAuditEntry(transaction, audit_signer(),
                                          ReplacementEvent(current, *replacement),
                                          replacement->records));
    transaction.commit();
    return Status::Ok();
  });
}

Status PgStore::UpdateKeyring(const KeyringChange& change) {
  return ChangeKeyringUnderLock(
      "writing the keyring",
      [&](pqxx::transaction_base&, const std::optional<KeyringRecords>& current,
          const std::string&) -> Result<std::optional<KeyringReplacement>> {
        UDMG_ASSIGN_OR_RETURN(KeyringRecords records,
                              internal::CallKeyringChange([&] { return change(current); }));
        return std::optional<KeyringReplacement>(KeyringReplacement{std::move(records), "", {}});
      });
}

// ---- Nonce budget ---------------------------------------------------------------------------

Result<Store::EncryptionCounts> PgStore::AddEncryptions(const EncryptionCounts& by_version) {
  if (by_version.empty()) return EncryptionCounts{};
  std::vector<std::string> versions, counts;
  for (const auto& [version, count] : by_version) {
    versions.push_back(std::to_string(version));
    counts.push_back(std::to_string(count));
  }
  // One statement in autocommit: every version's count or none, in one round trip (the commit
  // stage calls this once per batch). Run again after a lost reply: that can only over-count, so
  // the nonce warning comes earlier, never later (docs/security.md); under-counting is what must
  // not happen.
  return connection_->Run<EncryptionCounts>(
      "counting encryptions per master version", Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<EncryptionCounts> {
        pqxx::result totals = pqxx::nontransaction(live).exec_prepared(
            connection_->Prepared("INSERT INTO udmg_key_usage (version, encryptions) "
                                  "SELECT * FROM unnest($1::integer[], $2::bigint[]) "
                                  "ON CONFLICT (version) DO UPDATE SET "
                                  "encryptions = udmg_key_usage.encryptions + excluded.encryptions "
                                  "RETURNING version, encryptions"),
            TextArrayLiteral(versions), TextArrayLiteral(counts));
        EncryptionCounts by_total;
        for (const pqxx::row& row : totals) {
          by_total[row[0].as<uint32_t>()] = row[1].as<uint64_t>();
        }
        return by_total;
      });
}

Result<std::map<uint32_t, uint64_t>> PgStore::LoadEncryptions() {
  return connection_->Read<std::map<uint32_t, uint64_t>>(
      "reading encryptions per master version",
      [&](pqxx::transaction_base& transaction) -> Result<std::map<uint32_t, uint64_t>> {
        std::map<uint32_t, uint64_t> by_version;
        for (const pqxx::row& row : transaction.exec(
                 "SELECT version, encryptions FROM udmg_key_usage ORDER BY version")) {
          by_version[row[0].as<uint32_t>()] = row[1].as<uint64_t>();
        }
        return by_version;
      });
}

// ---- Cryptoperiod policy --------------------------------------------------------------------

namespace {

// The stored policy's rows, read in `transaction`.
PolicyRows ReadPolicyRows(pqxx::transaction_base& transaction) {
  PolicyRows rows;
  for (const pqxx::row& row : transaction.exec("SELECT name, value FROM udmg_policy")) {
    rows[row[0].as<std::string>()] = row[1].as<int64_t>();
  }
  return rows;
}

}  // namespace

Status PgStore::UpdatePolicy(const PolicyChange& change) {
  // Not idempotent: a rerun after a lost COMMIT would append a second audit entry. Under the
  // keyring lock, so that the entry chains to the one committed before it.
  return connection_->RunStatus(
      "writing the key policy", Retry::kNotIdempotent, [&](pqxx::connection& live) -> Status {
        pqxx::work transaction(live);
        LockKeyring(transaction);
        UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> keyring,
                              ReadKeyringRows(transaction, Describe()));
        if (!keyring) return internal::NoKeyring();
        UDMG_ASSIGN_OR_RETURN(KeyPolicy policy, change(ValidLimitsOf(ReadPolicyRows(transaction))));
        UDMG_RETURN_IF_ERROR(ValidatePolicy(policy));
        transaction.exec("DELETE FROM udmg_policy");
        for (const auto& [name, value] : PolicyToRows(policy)) {
          transaction.exec_params("INSERT INTO udmg_policy (name, value) VALUES ($1, $2)", name,
                                  value);
        }
        UDMG_RETURN_IF_ERROR(
            AppendAuditEntry(transaction, audit_signer(), PolicyChangeEvent(*keyring), keyring));
        transaction.commit();
        return Status::Ok();
      });
}

Result<KeyPolicy> PgStore::LoadPolicy() {
  return connection_->Read<KeyPolicy>("reading the key policy",
                                      [](pqxx::transaction_base& transaction) -> Result<KeyPolicy> {
                                        return PolicyFromRows(ReadPolicyRows(transaction));
                                      });
}

}  // namespace udmg::db::postgres
