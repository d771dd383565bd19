// Helpers shared by the db/ backends (SQLite and PostgreSQL): identifier checks, the
// portable encoding of row keys in udmg_ tables, job states, and the value-count classification.
// Not part of the Store API: only db/ includes this header.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::db::internal {

// Longest identifier accepted (PostgreSQL's NAMEDATALEN - 1, so both backends agree).
inline constexpr size_t kMaxIdentifierLength = 63;

// How many times a shared job's creator samples the stale keys again when another job of the same
// kind and target was created while it sampled (that job may have migrated the sampled rows).
inline constexpr int kSharedJobSampleAttempts = 3;

// JobStore::CreateSharedJob's arguments: valid column names, and one list of bounds per column
// (kInternal otherwise: a caller bug).
Status ValidateSharedJobSplit(const std::vector<ColumnRef>& columns,
                              const std::vector<std::vector<RowKey>>& bounds);

// kBadInput unless `name` matches [A-Za-z_][A-Za-z0-9_]* and has at most 63 characters.
// `role` names it in the message: "table", "column", "key column".
Status ValidateIdentifier(std::string_view name, std::string_view role);
// All three names, plus: not a udmg_ table, and the key column differs from the value column.
Status ValidateColumnRef(const ColumnRef& column);
// "name" with double quotes; only for names that passed ValidateIdentifier.
std::string QuoteIdentifier(std::string_view name);

// Quoted names of one column, for building its statements in either dialect (both use the SQL
// standard's double quotes); only for a ColumnRef that passed ValidateColumnRef.
struct QuotedColumn {
  std::string table, column, key;
  explicit QuotedColumn(const ColumnRef& ref)
      : table(QuoteIdentifier(ref.table)),
        column(QuoteIdentifier(ref.column)),
        key(QuoteIdentifier(ref.key_column)) {}
};

// kNotFound for a column absent from udmg_encrypted_columns.
Status NotRegistered(std::string_view table, std::string_view column);

// kNotFound for a registered column the database no longer fully has; `missing` says what, e.g.
// "table 'other' does not exist". Names the fix: restore it or `columns remove T.C`.
Status RegisteredColumnMissing(const ColumnRef& column, std::string_view missing);

// kBadInput refusing `column` for registration: its key column can hold NULL (`why` says how),
// and rows with a NULL key are invisible to every scan.
Status NullableKeyColumn(const ColumnRef& column, std::string_view why);

// kNotInitialized for a database without a keyring (before `udmg-server init`).
Status NoKeyring();

// Row keys in udmg_ tables are stored as (type, text) so that both backends keep the type:
// ("integer", "-12") or ("text", "abc").
std::string_view RowKeyTypeName(const RowKey& key);
// kDatabase when the stored pair is not one RowKeyTypeName/RowKeyText produced.
Result<RowKey> RowKeyFromStored(std::string_view type, std::string_view text);

// Adds `count` values whose group label is `prefix` to `counts`. Labels, as the backends' GROUP BY
// produces them: "" for NULL, "plain" for no "udmg:" prefix, otherwise the value up to and
// including its second colon ("udmg:v7:", or "udmg:b7:" for a bound value, counted in
// by_version[7] and in bound), or just "udmg:" when there is no second colon nearby.
void AddPrefixCount(std::string_view prefix, uint64_t count, ValueCounts& counts);
inline constexpr std::string_view kNullLabel = "";
inline constexpr std::string_view kPlaintextLabel = "plain";

// kInternal unless the records are a keyring the schema can hold: versions positive and unique,
// fingerprints unique, and exactly one active master version.
Status ValidateKeyringRecords(const KeyringRecords& records);

// kConflict for a shared job's range that this process no longer holds (its lease expired and
// another process claimed it, or the range is already done).
Status LeaseLost(const JobRange& range);

// Seconds since the Unix epoch.
int64_t UnixNow();

// ---- Disaster recovery and nodes ---------------------------------------------------

// Calls a caller's keyring change inside the store's transaction; an exception it throws becomes
// kInternal (the transaction then rolls back). The message comes from our own code, never keys.
template <typename Change>
auto CallKeyringChange(const Change& change) -> decltype(change()) {
  try {
    return change();
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInternal, std::string("the keyring change failed unexpectedly (") +
                                           e.what() + "); nothing was written"};
  }
}

// kConflict for a checked keyring change refused because job `id` is in state "running" (also a
// job killed with kill -9: it stays "running" until resumed).
Status JobIsRunning(int64_t id, std::string_view kind);

// Adds one registered column's per-version counts to `usage`, keyed by column.Name(); versions
// without values are left out.
void AddVersionUsage(const ColumnRef& column, const ValueCounts& counts, VersionUsage& usage);

// kInternal unless a checked change can be written as it is: a keyring the schema can hold
// (ValidateKeyringRecords), a keyring id that is well formed and, when the database already has
// one (`current_id` not empty), unchanged; archived rows of kind "root" or "master" with a
// positive version.
Status ValidateReplacement(const KeyringReplacement& replacement, std::string_view current_id);

// kBadInput for a node the schema cannot hold (empty node id).
Status ValidateNodeRecord(const NodeRecord& node);

// ---- Audit trail ----------------------------------------------------------------------------

// Entry `seq` of the trail, made at `at` (the database's time) after the entry whose MAC is
// `previous`, sealed as AuditSigner says: keyed by the root version of `keyring` whose
// fingerprint is the signer's when the event names it current before or after (otherwise, or
// with a nullopt keyring, unkeyed). kWrongKey when the signer holds a K0 that is not current
// before or after a change that is not a refusal: another process rotated the root key since
// this one checked it, and an unsealed change would break the trail.
Result<AuditEntry> MakeAuditEntry(const AuditSigner& signer, const AuditEvent& event,
                                  const std::optional<KeyringRecords>& keyring, int64_t seq,
                                  int64_t at, const AuditMac& previous);
// The MAC as stored: 64 lowercase hex digits. Reading back, anything else is kept as all zeros,
// which no entry verifies with (an edit that `audit verify` reports, not a read error).
std::string AuditMacText(const AuditMac& mac);
AuditMac AuditMacFromText(std::string_view text);

}  // namespace udmg::db::internal
