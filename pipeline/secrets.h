// The library API for the server's own code (docs/operator-guide.md, gradual migration): read a value
// (decrypt; if stale, re-encrypt under the active version and compare-and-swap it back), write a
// value under the active version, and notice a rotation made by another process before writing.
//
// Thread-safety: NOT thread-safe (it owns one database connection); one client per thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/store.h"
#include "engine/keyring.h"
#include "engine/value_cipher.h"
#include "pipeline/node_presence.h"
#include "pipeline/nonce_budget.h"

namespace udmg::pipeline {

struct ReadOutcome {
  std::optional<SecretBytes> plaintext;  // nullopt for a NULL value
  uint32_t version = 0;                  // version it was stored under; 0 for plaintext/NULL
  bool legacy_plaintext = false;         // stored without the udmg: prefix (left as it is)
  bool migrated = false;                 // re-encrypted to the active version and written back
};

// How a client names itself and reports warnings.
struct ClientOptions {
  std::string program = DefaultProgramName();  // recorded in udmg_nodes, e.g. "udmg-server sweep"
  WarningSink warning_sink = StderrWarningSink();
};

class SecretsClient {
 public:
  // Loads the keyring; fails with WrongRootKeyError when `k0` is not the current root key and
  // kNotInitialized when `init` has not run. Does not migrate the schema (the caller does).
  // Signs the store's audit entries as this process with `k0` (AuditSignerFor).
  // Before checking the key it records this node in udmg_nodes (node_presence.h) with the root
  // version its K0 matches, so a node on a wrong K0 is recorded too; a failure to record is a
  // warning to `options.warning_sink`, never an error.
  static Result<std::unique_ptr<SecretsClient>> Open(std::unique_ptr<db::Store> store,
                                                     SecretBytes k0, ClientOptions options = {});

  // Refreshes the keyring if it changed (one cheap revision query, so a rotation made by another
  // process is seen by the very next read, and a K0 that stopped being current fails here with
  // WrongRootKeyError), then reads. kNotFound when no row has that key. A value under a version
  // this keyring does not know makes it refresh once more before giving up.
  // A lost compare-and-swap (someone wrote meanwhile) is not an error: the value read is returned.
  // On a read-only session (a hot standby, default_transaction_read_only) a stale value is
  // returned without the write-back and its encryption count; the first such read of this client
  // says so once to the warning sink.
  // The column's row binding comes from the registry (loaded with the keyring: `columns bind`
  // bumps the keyring revision), whatever `column.bound_since` says; a column that is not
  // registered is read and written unbound.
  Result<ReadOutcome> Read(const db::ColumnRef& column, const db::RowKey& key);

  // Refreshes the keyring if it changed, then writes `plaintext` under the active version.
  // Every encryption (here and in Read's write-back) is counted per version in the store before
  // the value is written; a version past kNonceWarnEncryptions is reported to the warning sink.
  Status Write(const db::ColumnRef& column, const db::RowKey& key,
               std::span<const uint8_t> plaintext);

  // Reloads the keyring when its revision changed (and records this node again, so udmg_nodes
  // shows where its K0 stands after another process's rotation). Fails with WrongRootKeyError
  // when this process's K0 is no longer the current root key (the process must stop).
  Status RefreshKeyring();

  const Keyring& keyring() const { return *keyring_; }
  // The same keyring, shared, for pipeline stages that build their own ValueCipher.
  std::shared_ptr<const Keyring> shared_keyring() const { return keyring_; }
  db::Store& store() { return *store_; }

  // Where nonce-budget warnings go; StderrWarningSink() unless set.
  void set_warning_sink(WarningSink sink) { warn_ = std::move(sink); }
  const WarningSink& warning_sink() const { return warn_; }

 private:
  SecretsClient(std::unique_ptr<db::Store> store, SecretBytes k0,
                std::shared_ptr<const Keyring> keyring, ClientOptions options);
  // Records this node against `records`; a failure goes to the warning sink.
  static void RecordNode(db::Store& store, const ClientOptions& options,
                         const KeyringRecords& records, std::span<const uint8_t> k0);
  // Encrypts under the active version and counts the encryption in the store.
  Result<std::string> EncryptCounted(std::span<const uint8_t> plaintext,
                                     const ValueLocation& location);
  Result<SecretBytes> DecryptRefreshingOnce(const db::ColumnRef& column, const db::RowKey& key,
                                            std::string_view envelope);
  // `column` with its binding as registered.
  db::ColumnRef Registered(const db::ColumnRef& column) const;
  // The one warning of a read-only session's skipped write-backs (the first time only).
  void WarnWriteBackSkipped();

  std::unique_ptr<db::Store> store_;
  SecretBytes k0_;
  std::shared_ptr<const Keyring> keyring_;
  std::unique_ptr<ValueCipher> cipher_;
  std::vector<db::ColumnRef> registered_;  // loaded with the keyring, for the row bindings
  WarningSink warn_ = StderrWarningSink();
  std::string program_;  // as recorded in udmg_nodes
  bool warned_read_only_ = false;
};

}  // namespace udmg::pipeline
