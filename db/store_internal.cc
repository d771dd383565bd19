#include "db/store_internal.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>

#include "engine/encoding.h"

namespace udmg::db::internal {
namespace {

struct LabelVersion {
  uint32_t version = 0;
  bool bound = false;  // "udmg:b<N>:" rather than "udmg:v<N>:"
};

// The version of a "udmg:v<N>:" or "udmg:b<N>:" group label: N canonical decimal (1.., no leading
// zero, fits uint32), as docs/formats.md defines the envelope; nullopt for anything else.
std::optional<LabelVersion> VersionOfLabel(std::string_view label) {
  constexpr std::string_view kMagic = "udmg:";
  constexpr size_t kHeadSize = kMagic.size() + 1;  // "udmg:v" or "udmg:b"
  if (label.size() < kHeadSize + 2 || label.substr(0, kMagic.size()) != kMagic ||
      (label[kMagic.size()] != 'v' && label[kMagic.size()] != 'b') || label.back() != ':') {
    return std::nullopt;
  }
  std::string_view digits = label.substr(kHeadSize, label.size() - kHeadSize - 1);
  if (digits.empty() || digits.size() > 10 || digits[0] == '0') return std::nullopt;
  uint64_t version = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + static_cast<uint64_t>(c - '0');
  }
  if (version > UINT32_MAX) return std::nullopt;
  return LabelVersion{static_cast<uint32_t>(version), label[kMagic.size()] == 'b'};
}

bool IsIdentifierStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool IsIdentifierPart(char c) { return IsIdentifierStart(c) || (c >= '0' && c <= '9'); }

}  // namespace

Status ValidateIdentifier(std::string_view name, std::string_view role) {
  bool valid = !name.empty() && name.size() <= kMaxIdentifierLength && IsIdentifierStart(name[0]);
  for (size_t i = 1; valid && i < name.size(); ++i) valid = IsIdentifierPart(name[i]);
  if (valid) return Status::Ok();
  // Echo only short names: a long or odd argument may be something pasted by mistake.
  std::string shown = name.size() <= kMaxIdentifierLength
                          ? "'" + std::string(name) + "'"
                          : "of " + std::to_string(name.size()) + " characters";
  return Status(ErrorCode::kBadInput,
                std::string(role) + " name " + shown +
                    " is not a plain SQL identifier; use letters, digits and _ (not first), at "
                    "most 63 characters");
}

Status ValidateColumnRef(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(ValidateIdentifier(column.table, "table"));
  UDMG_RETURN_IF_ERROR(ValidateIdentifier(column.column, "column"));
  UDMG_RETURN_IF_ERROR(ValidateIdentifier(column.key_column, "key column"));
  if (column.table.size() >= 5 && column.table.compare(0, 5, "udmg_") == 0) {
    return Status(ErrorCode::kBadInput, "table '" + column.table +
                                            "' belongs to udmg-server itself and cannot hold "
                                            "registered columns; choose an application table");
  }
  if (column.column == column.key_column) {
    return Status(ErrorCode::kBadInput,
                  "column '" + column.Name() +
                      "' cannot be its own key column; give the row key column (e.g. id) as the "
                      "key column",
                  "key_column");
  }
  return Status::Ok();
}

std::string QuoteIdentifier(std::string_view name) { return "\"" + std::string(name) + "\""; }

Status NotRegistered(std::string_view table, std::string_view column) {
  return Status(ErrorCode::kNotFound, "column '" + std::string(table) + "." + std::string(column) +
                                          "' is not registered; list the registered columns "
                                          "or register it first");
}

Status RegisteredColumnMissing(const ColumnRef& column, std::string_view missing) {
  return Status(ErrorCode::kNotFound,
                "registered column " + column.Name() + " cannot be used: " + std::string(missing) +
                    " (dropped or renamed?); restore it, or unregister the column with "
                    "`udmg-server columns remove " + column.Name() + "`");
}

Status NullableKeyColumn(const ColumnRef& column, std::string_view why) {
  return Status(ErrorCode::kBadInput,
                "key column '" + column.table + "." + column.key_column + "' " +
                    std::string(why) +
                    ": rows with a NULL key cannot be addressed and would be skipped; declare it "
                    "NOT NULL (or use the primary key)");
}

Status NoKeyring() {
  return Status(ErrorCode::kNotInitialized,
                "the database has no keyring: run `udmg-server init` first");
}

std::string_view RowKeyTypeName(const RowKey& key) {
  return std::holds_alternative<int64_t>(key) ? "integer" : "text";
}

Result<RowKey> RowKeyFromStored(std::string_view type, std::string_view text) {
  if (type == "text") return RowKey(std::string(text));
  if (type == "integer") {
    RowKey key = ParseRowKey(text);
    if (std::holds_alternative<int64_t>(key)) return key;
  }
  return Error{ErrorCode::kDatabase,
               "a stored row key has type '" + std::string(type) +
                   "' and does not parse as one; the udmg_ job tables were edited by hand"};
}

void AddPrefixCount(std::string_view prefix, uint64_t count, ValueCounts& counts) {
  if (prefix == kNullLabel) {
    counts.null_values += count;
  } else if (prefix == kPlaintextLabel) {
    counts.plaintext += count;
  } else if (std::optional<LabelVersion> label = VersionOfLabel(prefix)) {
    counts.by_version[label->version] += count;
    if (label->bound) counts.bound += count;
  } else {
    counts.malformed += count;
  }
}

Status ValidateSharedJobSplit(const std::vector<ColumnRef>& columns,
                              const std::vector<std::vector<RowKey>>& bounds) {
  for (const ColumnRef& column : columns) UDMG_RETURN_IF_ERROR(ValidateColumnRef(column));
  if (bounds.size() != columns.size()) {
    return Status(ErrorCode::kInternal, "a shared job needs one list of range bounds per column");
  }
  return Status::Ok();
}

Status ValidateKeyringRecords(const KeyringRecords& records) {
  std::set<uint32_t> root_versions;
  std::set<std::string> fingerprints;
  for (const RootKeyRecord& root : records.roots) {
    if (root.version == 0 || !root_versions.insert(root.version).second ||
        !fingerprints.insert(root.fingerprint).second) {
      return Status(ErrorCode::kInternal, "the new keyring repeats root version " +
                                              std::to_string(root.version) +
                                              " or its fingerprint; nothing was written");
    }
  }
  std::set<uint32_t> master_versions;
  int active = 0;
  for (const MasterKeyRecord& master : records.masters) {
    if (master.version == 0 || !master_versions.insert(master.version).second) {
      return Status(ErrorCode::kInternal, "the new keyring repeats master version " +
                                              std::to_string(master.version) +
                                              "; nothing was written");
    }
    if (master.state == MasterKeyState::kActive) ++active;
  }
  if (records.roots.empty()) {
    return Status(ErrorCode::kInternal, "the new keyring has no root version; nothing was written");
  }
  if (active != 1) {
    return Status(ErrorCode::kInternal, "the new keyring has " + std::to_string(active) +
                                            " active master versions instead of exactly 1; "
                                            "nothing was written");
  }
  return Status::Ok();
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status LeaseLost(const JobRange& range) {
  return Status(ErrorCode::kConflict,
                "the lease on key range " + std::to_string(range.position) + " of " +
                    range.column.Name() + " (job " + std::to_string(range.job_id) +
                    ") was lost to another process: raise the lease above the longest batch time",
                "lease");
}

Status JobIsRunning(int64_t id, std::string_view kind) {
  const std::string command = "`udmg-server " + std::string(kind) + "`";
  return Status(ErrorCode::kConflict,
                "job " + std::to_string(id) + " (" + std::string(kind) +
                    ") is running: wait for it to finish, or stop it (Ctrl-C / the stop file) "
                    "and run this again; if its process died (kill -9, a lost node), " + command +
                    " with the mark-stopped option releases it and " + command +
                    " then resumes it",
                "mark_stopped");
}

void AddVersionUsage(const ColumnRef& column, const ValueCounts& counts, VersionUsage& usage) {
  for (const auto& [version, count] : counts.by_version) {
    if (count > 0) usage[version][column.Name()] += count;
  }
}

namespace {

// Ids this store makes are 32 lowercase hex digits; accept any short plain token, so an id
// made by an older release still round-trips, but nothing that could break a message or a file.
bool IsWellFormedKeyringId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!IsIdentifierPart(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

Status ValidateReplacement(const KeyringReplacement& replacement, std::string_view current_id) {
  UDMG_RETURN_IF_ERROR(ValidateKeyringRecords(replacement.records));
  const std::string& id = replacement.keyring_id;
  if (!id.empty() && !IsWellFormedKeyringId(id)) {
    return Status(ErrorCode::kInternal,
                  "the new keyring id is not 1 to 64 letters, digits, - or _; nothing was written");
  }
  if (!current_id.empty() && !id.empty() && id != current_id) {
    return Status(ErrorCode::kInternal, "the keyring change would replace this database's keyring "
                                        "id " + std::string(current_id) + " by " + id +
                                        "; nothing was written");
  }
  for (const ArchivedKeyRow& row : replacement.archived) {
    if ((row.kind != "root" && row.kind != "master") || row.version == 0) {
      return Status(ErrorCode::kInternal, "a keyring row to set aside has kind '" + row.kind +
                                              "' and version " + std::to_string(row.version) +
                                              " (expected root or master, version > 0); nothing "
                                              "was written");
    }
  }
  return Status::Ok();
}

Status ValidateNodeRecord(const NodeRecord& node) {
  if (node.node_id.empty()) {
    return Status(ErrorCode::kBadInput,
                  "this node has no id: set the node id, or give the host a name", "node_id");
  }
  return Status::Ok();
}

Result<AuditEntry> MakeAuditEntry(const AuditSigner& signer, const AuditEvent& event,
                                  const std::optional<KeyringRecords>& keyring, int64_t seq,
                                  int64_t at, const AuditMac& previous) {
  AuditEntry entry;
  entry.seq = seq;
  entry.at = at;
  entry.node = signer.node;
  entry.os_user = signer.os_user;
  entry.pid = signer.pid;
  entry.command = signer.command;
  entry.event = event.event;
  entry.outcome = event.outcome;
  entry.detail = event.detail;
  entry.root_before = event.root_before;
  entry.root_after = event.root_after;
  entry.master_before = event.master_before;
  entry.master_after = event.master_after;
  entry.k0_fingerprint = signer.k0_fingerprint;
  // Only the root version current before or after the event seals it (VerifyAuditChain): an
  // older K0 seals nothing.
  const RootKeyRecord* root = keyring && !signer.key.empty()
                                  ? FindRootByFingerprint(*keyring, signer.k0_fingerprint)
                                  : nullptr;
  const bool current =
      root && (root->version == event.root_before || root->version == event.root_after);
  entry.key_version = current ? root->version : 0;
  if (!current && event.unsealed_if_key_not_current && !MayBeUnsealed(entry)) {
    entry.outcome = std::string(kUnsealedPrefix) + entry.outcome + "; " +
                    (signer.key.empty() ? "made without a root key"
                                        : "made with a root key that is no longer current");
  }
  if (!current && !signer.key.empty() && !MayBeUnsealed(entry)) {
    return Error{ErrorCode::kWrongKey,
                 "this node's root key is no longer the current one (another process rotated it "
                 "meanwhile): nothing was changed; set UDMG_SECURITY_PASSPHRASE_KEY to the current "
                 "root key and run the command again"};
  }
  entry.mac = SealAuditEntry(entry, previous, signer.key);
  return entry;
}

std::string AuditMacText(const AuditMac& mac) { return HexEncode(mac); }

AuditMac AuditMacFromText(std::string_view text) {
  AuditMac mac{};
  std::optional<SecretBytes> bytes = HexDecode(text);
  if (bytes && bytes->size() == mac.size()) std::copy(bytes->begin(), bytes->end(), mac.begin());
  return mac;
}

}  // namespace udmg::db::internal

namespace udmg::db {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kRunning: return "running";
    case JobState::kStopped: return "stopped";
    case JobState::kFailed: return "failed";
    case JobState::kDone: return "done";
  }
  return "unknown";
}

Result<JobState> ParseJobState(std::string_view name) {
  for (JobState state :
       {JobState::kRunning, JobState::kStopped, JobState::kFailed, JobState::kDone}) {
    if (JobStateName(state) == name) return state;
  }
  return Error{ErrorCode::kDatabase, "a stored job state '" + std::string(name) +
                                         "' is not one of running, stopped, failed, done; the "
                                         "udmg_ job tables were edited by hand"};
}

}  // namespace udmg::db
