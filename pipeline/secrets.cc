#include "pipeline/secrets.h"

#include <ctime>
#include <utility>

#include "engine/envelope.h"
#include "pipeline/audit_trail.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {
namespace {

// "credentials.secret id=3": where a value lives, for error messages (never the value itself).
std::string Where(const db::ColumnRef& column, const db::RowKey& key) {
  return column.Name() + " " + column.key_column + "=" + db::RowKeyText(key);
}

Error MissingRow(const db::ColumnRef& column, const db::RowKey& key) {
  return Error{ErrorCode::kNotFound,
               "no row " + Where(column, key) + ": check the table and the key"};
}

Error NotInitialized() {
  return Error{ErrorCode::kNotInitialized,
               "the database has no keyring: run `udmg-server init` first"};
}

// Keyring::Open; on a hot standby, a K0 that matches no root version may be the primary's newest,
// not replayed here yet: the message says so rather than only "unknown".
Result<std::shared_ptr<const Keyring>> OpenKeyring(const db::Store& store,
                                                   const KeyringRecords& records,
                                                   std::span<const uint8_t> k0) {
  auto keyring = Keyring::Open(records, k0);
  if (keyring.ok() || !store.Access().standby ||
      CheckRootKey(records, k0).standing != RootKeyStanding::kUnknown) {
    return keyring;
  }
  Error error = keyring.error();
  error.message +=
      "; but this database is a hot standby, which may lag behind the primary: a root key "
      "rotated there is known here once replayed (compare pg_last_wal_replay_lsn() here with "
      "pg_current_wal_lsn() on the primary), or read from the primary";
  return error;
}

}  // namespace

SecretsClient::SecretsClient(std::unique_ptr<db::Store> store, SecretBytes k0,
                             std::shared_ptr<const Keyring> keyring, ClientOptions options)
    : store_(std::move(store)),
      k0_(std::move(k0)),
      keyring_(keyring),
      cipher_(std::make_unique<ValueCipher>(std::move(keyring))),
      warn_(std::move(options.warning_sink)),
      program_(std::move(options.program)) {}

void SecretsClient::RecordNode(db::Store& store, const ClientOptions& options,
                               const KeyringRecords& records, std::span<const uint8_t> k0) {
  Result<NodeIdentity> self = ThisNode(options.program);
  Status recorded = self.ok() ? RecordThisNode(store, *self, records, k0,
                                               static_cast<int64_t>(std::time(nullptr)))
                              : self.status();
  if (!recorded.ok() && options.warning_sink) {
    options.warning_sink("this node was not recorded in udmg_nodes (" + recorded.message() +
                         "): `status` and `doctor` cannot vouch for its root key",
                         recorded.setting());
  }
}

Result<std::unique_ptr<SecretsClient>> SecretsClient::Open(std::unique_ptr<db::Store> store,
                                                           SecretBytes k0, ClientOptions options) {
  UDMG_ASSIGN_OR_RETURN(auto records, store->LoadKeyring());
  if (!records) return NotInitialized();
  store->SetAuditSigner(AuditSignerFor(options.program, k0));
  // Before the key check: a node on an older or unknown K0 must show up in udmg_nodes too.
  RecordNode(*store, options, *records, k0);
  UDMG_ASSIGN_OR_RETURN(auto keyring, OpenKeyring(*store, *records, k0));
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> registered, store->ListColumns());
  auto client = std::unique_ptr<SecretsClient>(new SecretsClient(
      std::move(store), std::move(k0), std::move(keyring), std::move(options)));
  client->registered_ = std::move(registered);
  return client;
}

Status SecretsClient::RefreshKeyring() {
  UDMG_ASSIGN_OR_RETURN(int64_t revision, store_->KeyringRevision());
  if (revision == keyring_->revision()) return Status::Ok();
  UDMG_ASSIGN_OR_RETURN(auto records, store_->LoadKeyring());
  if (!records) return NotInitialized();
  RecordNode(*store_, ClientOptions{program_, warn_}, *records, k0_);
  UDMG_ASSIGN_OR_RETURN(auto keyring, OpenKeyring(*store_, *records, k0_));
  UDMG_ASSIGN_OR_RETURN(registered_, store_->ListColumns());
  keyring_ = keyring;
  cipher_ = std::make_unique<ValueCipher>(std::move(keyring));
  return Status::Ok();
}

db::ColumnRef SecretsClient::Registered(const db::ColumnRef& column) const {
  db::ColumnRef resolved = column;
  resolved.bound_since.reset();
  for (const db::ColumnRef& registered : registered_) {
    if (registered.table == column.table && registered.column == column.column) {
      resolved.bound_since = registered.bound_since;
    }
  }
  return resolved;
}

Result<std::string> SecretsClient::EncryptCounted(std::span<const uint8_t> plaintext,
                                                  const ValueLocation& location) {
  UDMG_ASSIGN_OR_RETURN(std::string envelope, cipher_->Encrypt(plaintext, &location));
  UDMG_RETURN_IF_ERROR(RecordEncryptions(*store_, {{keyring_->active_version(), 1}}, warn_));
  return envelope;
}

Result<SecretBytes> SecretsClient::DecryptRefreshingOnce(const db::ColumnRef& column,
                                                         const db::RowKey& key,
                                                         std::string_view envelope) {
  const std::string key_text = db::RowKeyText(key);
  const ValueLocation location = LocationOf(column, key_text);
  auto plaintext = cipher_->Decrypt(envelope, &location);
  if (!plaintext.ok() && plaintext.error().code == ErrorCode::kNotFound) {
    // Another process may have rotated since this keyring was loaded.
    UDMG_RETURN_IF_ERROR(RefreshKeyring());
    plaintext = cipher_->Decrypt(envelope, &location);
  }
  if (plaintext.ok()) return plaintext;
  const Error& error = plaintext.error();
  // A stored envelope that does not parse is a corrupt value, not bad operator input.
  ErrorCode code = error.code == ErrorCode::kBadInput ? ErrorCode::kCorruptValue : error.code;
  std::string hint;
  if (code == ErrorCode::kCorruptValue && envelope.starts_with("udmg:b")) {
    hint = " (a row-bound value also fails when it was moved from another row)";
  }
  return Error{code, Where(column, key) + ": " + error.message + hint};
}

Result<ReadOutcome> SecretsClient::Read(const db::ColumnRef& requested,
                                        const db::RowKey& requested_key) {
  UDMG_RETURN_IF_ERROR(RefreshKeyring());
  const db::ColumnRef column = Registered(requested);
  UDMG_ASSIGN_OR_RETURN(auto stored, store_->ReadValue(column, requested_key));
  if (!stored) return MissingRow(column, requested_key);
  // The row's own key, as the database holds it ("7" for a caller's "007", "alice" for "ALICE"
  // under NOCASE): the row binding and the write-back must not depend on the caller's spelling.
  const db::RowKey& key = stored->key;
  ReadOutcome outcome;
  if (!stored->value) return outcome;  // NULL stays NULL
  const std::string& value = *stored->value;
  if (!LooksEncrypted(value)) {
    auto bytes = AsBytes(value);
    outcome.plaintext = SecretBytes(bytes.begin(), bytes.end());
    outcome.legacy_plaintext = true;
    return outcome;
  }
  UDMG_ASSIGN_OR_RETURN(SecretBytes plaintext, DecryptRefreshingOnce(column, key, value));
  outcome.version = EnvelopeVersionOrZero(value);
  // Stale: another version, or the other form than the column's binding asks for.
  const bool stale = !value.starts_with(db::TargetPrefix(column, keyring_->active_version()));
  if (stale && store_->Access().read_only) {
    WarnWriteBackSkipped();
  } else if (stale) {
    const std::string key_text = db::RowKeyText(key);
    UDMG_ASSIGN_OR_RETURN(std::string fresh,
                          EncryptCounted(plaintext, LocationOf(column, key_text)));
    db::CasWrite write{key, value, std::move(fresh)};
    UDMG_ASSIGN_OR_RETURN(auto applied, store_->CompareAndSwap(column, std::span(&write, 1)));
    // A lost swap means someone wrote meanwhile; the value read is still the right answer.
    outcome.migrated = !applied.empty() && applied.front();
  }
  outcome.plaintext = std::move(plaintext);
  return outcome;
}

void SecretsClient::WarnWriteBackSkipped() {
  if (warned_read_only_ || !warn_) return;
  warned_read_only_ = true;
  warn_(std::string(store_->Access().standby ? "the database is a hot standby"
                                             : "the session is read-only "
                                               "(default_transaction_read_only)") +
        ": stale values are returned but not re-encrypted under master key version " +
        std::to_string(keyring_->active_version()) +
        " nor counted; run `udmg-server sweep` against the primary to migrate them",
        {});
}

Status SecretsClient::Write(const db::ColumnRef& requested, const db::RowKey& requested_key,
                            std::span<const uint8_t> plaintext) {
  UDMG_RETURN_IF_ERROR(RefreshKeyring());
  const db::ColumnRef column = Registered(requested);
  // Refuse a missing row before counting an encryption, so a refused write changes nothing.
  UDMG_ASSIGN_OR_RETURN(auto existing, store_->ReadValue(column, requested_key));
  if (!existing) return MissingRow(column, requested_key);
  // Bound to the row's own key as the database holds it, never the caller's spelling (see Read).
  const db::RowKey& key = existing->key;
  const std::string key_text = db::RowKeyText(key);
  UDMG_ASSIGN_OR_RETURN(std::string envelope,
                        EncryptCounted(plaintext, LocationOf(column, key_text)));
  return store_->WriteValue(column, key, envelope);
}

}  // namespace udmg::pipeline
