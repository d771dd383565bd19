// Backend-independent parts of db/store.h: row keys, the defaults of the interfaces, and the
// checks every backend shares. Choosing the backend is db/open_store.cc's.
#include "db/store.h"

#include <charconv>
#include <cstdlib>

#include "base/time_text.h"
#include "db/store_internal.h"
#include "engine/envelope.h"

namespace udmg::db {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Canonical decimal: an optional '-', then "0" or digits without a leading zero; "-0" is not.
bool IsCanonicalDecimal(std::string_view text) {
  std::string_view digits = StartsWith(text, "-") ? text.substr(1) : text;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || text.size() > 1))) {
    return false;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string TargetPrefix(const ColumnRef& column, uint32_t version) {
  return column.bound() ? BoundEnvelopePrefix(version) : EnvelopePrefix(version);
}

AuditEvent KeyringChangeEvent(const std::optional<KeyringRecords>& before,
                              const KeyringRecords& after) {
  AuditEvent event;
  event.event = "keyring";
  if (before) {
    event.root_before = CurrentRootVersion(*before);
    event.master_before = ActiveMasterVersion(*before);
  }
  event.root_after = CurrentRootVersion(after);
  event.master_after = ActiveMasterVersion(after);
  return event;
}

AuditEvent ReplacementEvent(const std::optional<KeyringRecords>& before,
                            const KeyringReplacement& replacement) {
  AuditEvent event = KeyringChangeEvent(before, replacement.records);
  event.event = replacement.audit_event;
  event.detail = replacement.audit_detail;
  return event;
}

namespace {

AuditEvent KeyringKeptEvent(const KeyringRecords& keyring, std::string name, std::string detail) {
  AuditEvent event = KeyringChangeEvent(keyring, keyring);
  event.event = std::move(name);
  event.detail = std::move(detail);
  return event;
}

std::string_view ColumnChangeName(ColumnChange change) {
  switch (change) {
    case ColumnChange::kAdd: return "column-add";
    case ColumnChange::kRemove: return "column-remove";
    case ColumnChange::kBind: return "column-bind";
    case ColumnChange::kUnbind: return "column-unbind";
  }
  return "column";
}

}  // namespace

AuditEvent PolicyChangeEvent(const KeyringRecords& keyring) {
  return KeyringKeptEvent(keyring, "policy", "");
}

AuditEvent ColumnChangeEvent(const KeyringRecords& keyring, ColumnChange change,
                             std::string_view table, std::string_view column) {
  const ColumnRef named{std::string(table), std::string(column)};
  return KeyringKeptEvent(keyring, std::string(ColumnChangeName(change)), named.Name());
}

AuditEvent BackupEvent(const KeyringRecords& keyring, const BackupRecord& backup) {
  return KeyringKeptEvent(keyring, "backup",
                          "taken " + UtcText(backup.taken_at) + ", root version " +
                              std::to_string(backup.root_version) + " (fingerprint " +
                              backup.root_fingerprint + "), keyring revision " +
                              std::to_string(backup.keyring_revision));
}

std::optional<AuditEvent> JobStateEvent(const KeyringRecords& keyring, const JobRecord& job,
                                        std::optional<JobState> from, JobState to) {
  if (from == to) return std::nullopt;
  std::string detail = "job " + std::to_string(job.id) + " (" + job.kind + ") to master version " +
                       std::to_string(job.target_version);
  std::string name = "job-end";
  std::string outcome = "ok";
  switch (to) {
    case JobState::kRunning:
      name = "job-start";
      if (from) detail += ", resumed";
      break;
    case JobState::kStopped: name = "job-stop"; break;
    case JobState::kDone: break;
    case JobState::kFailed: outcome = "failed"; break;
  }
  AuditEvent event = KeyringKeptEvent(keyring, std::move(name), std::move(detail));
  event.outcome = std::move(outcome);
  event.unsealed_if_key_not_current = true;
  return event;
}

AuditEvent RefusalEvent(const KeyringRecords& keyring, std::string_view event,
                        std::string_view reason) {
  AuditEvent refusal = KeyringKeptEvent(keyring, std::string(event), "");
  refusal.outcome = "refused: " + std::string(reason);
  return refusal;
}

std::string RowKeyText(const RowKey& key) {
  if (const int64_t* number = std::get_if<int64_t>(&key)) return std::to_string(*number);
  return std::get<std::string>(key);
}

RowKey ParseRowKey(std::string_view text) {
  if (IsCanonicalDecimal(text)) {
    int64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size()) return number;
  }
  return std::string(text);  // "007", "+5", " 5", or beyond int64: the text itself
}

Result<ReplicationState> Store::ReadReplication() {
  return Error{ErrorCode::kUsage, "this database has no streaming replicas (PostgreSQL only)"};
}

Result<std::optional<int64_t>> Store::OthersCommitMark() { return std::optional<int64_t>(); }

SessionAccess Store::Access() const { return SessionAccess(); }

Result<std::vector<bool>> ValueStore::CompareAndSwap(const ColumnRef& column,
                                                     std::span<const CasWrite> writes) {
  UDMG_ASSIGN_OR_RETURN(std::vector<CasOutcome> outcomes, CompareAndSwapChecked(column, writes));
  return WrittenRows(outcomes);
}

std::vector<bool> WrittenRows(const std::vector<CasOutcome>& outcomes) {
  std::vector<bool> written;
  written.reserve(outcomes.size());
  for (CasOutcome outcome : outcomes) written.push_back(WasWritten(outcome));
  return written;
}

Status JobStore::RecordJobWait(int64_t, const std::optional<JobWait>&) { return Status::Ok(); }

Result<std::vector<int64_t>> JobStore::BlockingPids(int64_t) { return std::vector<int64_t>(); }

Result<std::optional<std::string>> ColumnStore::RowsHiddenFrom(const ColumnRef&) {
  return std::optional<std::string>();
}

Result<int64_t> FindOrCreateSharedJob(JobStore& store, std::string_view kind,
                                      uint32_t target_version,
                                      const std::vector<ColumnRef>& columns,
                                      const StaleFilter& filter, uint64_t rows_per_range) {
  for (const ColumnRef& column : columns) {
    UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  }
  for (int attempt = 1;; ++attempt) {
    UDMG_ASSIGN_OR_RETURN(SharedJobProbe probe, store.ProbeSharedJob(kind, target_version));
    if (probe.existing) return *probe.existing;
    // Sampled before the lock, so that the lock is held briefly.
    std::vector<std::vector<RowKey>> bounds;
    for (const ColumnRef& column : columns) {
      UDMG_ASSIGN_OR_RETURN(bounds.emplace_back(),
                            store.SampleRangeBounds(column, filter, rows_per_range));
    }
    bool last_attempt = attempt >= internal::kSharedJobSampleAttempts;
    UDMG_ASSIGN_OR_RETURN(
        std::optional<int64_t> job_id,
        store.CreateSharedJob(kind, target_version, columns, bounds,
                              last_attempt ? std::nullopt : std::optional(probe.watermark)));
    if (job_id) return *job_id;
  }
}

Status RequireEveryRowVisible(ColumnStore& store, const std::vector<ColumnRef>& columns,
                              std::string_view consequence) {
  for (const ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(std::optional<std::string> hidden, store.RowsHiddenFrom(column));
    if (hidden) {
      return Status(ErrorCode::kDatabase, "cannot see every row of " + column.Name() + ": " +
                                              *hidden + "; " + std::string(consequence));
    }
  }
  return Status::Ok();
}

}  // namespace udmg::db
