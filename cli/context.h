// What every command needs before it runs: the database (schema migrated), this node's K0 from
// its source, and a SecretsClient on both. Nothing here prints.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/status.h"
#include "cli/root_key_source.h"  // LoadRootKey: this node's K0, for every command
#include "db/store.h"
#include "engine/keyring.h"
#include "engine/secret.h"
#include "pipeline/secrets.h"

namespace udmg::cli {

// Options accepted before or after any subcommand.
struct GlobalOptions {
  std::optional<std::string> database_url;  // --db; else UDMG_DATABASE_URL; else sqlite:udmg.db
  // "udmg-server <subcommand...>", set after parsing; recorded in udmg_nodes.
  std::string program = "udmg-server";
};

// Opens the database and runs the schema migrations (they write nothing when up to date). Only
// `init` and `passphrase-restore` (into an empty database) pass kCreate: every other command
// needs a database already set up (kNotInitialized otherwise, the database left as it was).
Result<std::unique_ptr<db::Store>> OpenMigratedStore(
    const GlobalOptions& global, db::OpenMode mode = db::OpenMode::kExisting);

// The database plus K0, opened as a client: kBadKey, kWrongKey or kNotInitialized as it applies.
// Nonce-budget warnings go to stderr as "udmg-server: warning: ...".
Result<std::unique_ptr<pipeline::SecretsClient>> OpenClient(const GlobalOptions& global);

// The database and its keyring opened with this node's K0, for a command that must write nothing
// (`--dry-run`): unlike OpenClient, this node is not recorded in udmg_nodes.
struct KeyringView {
  std::unique_ptr<db::Store> store;
  SecretBytes k0;
  KeyringRecords records;
  std::shared_ptr<const Keyring> keyring;
};
Result<KeyringView> OpenKeyringView(const GlobalOptions& global);

// Makes this process, holding `k0`, the author of the audit entries `store` appends (every
// keyring change).
void SignAuditEntries(db::Store& store, const GlobalOptions& global, std::span<const uint8_t> k0);
// The same for a command that needs no K0: with this node's K0 when one is set and readable,
// else without a key (what it appends is then unsealed).
void SignAuditEntriesIfKeyed(db::Store& store, const GlobalOptions& global);

// A command that failed with a refusal (pipeline::RecordRefusal) records it in the database's
// audit trail, sealed when this node's K0 is current; best effort, silent: the command's error
// line is all it prints.
void RecordRefusal(const GlobalOptions& global, const Error& error);

// Unix seconds, for keyring records.
int64_t NowSeconds();

// Unix seconds (rounded down) at which this process was created (forked), from /proc: earlier
// than anything main() can read, so that a rotation committed by another process after this one
// was started is never taken for one committed before. NowSeconds() when /proc cannot be read.
int64_t ProcessStartSeconds();

}  // namespace udmg::cli
