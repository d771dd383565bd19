// Backend-independent parts of db/store.h: row keys, the database URL and the backend choice.
#include "db/store.h"

#include <charconv>
#include <cstdlib>

#include "db/database_url.h"
#include "engine/envelope.h"
#include "db/postgres/postgres_store.h"
#include "db/sqlite/sqlite_store.h"

namespace udmg::db {
namespace {

constexpr std::string_view kDefaultDatabaseUrl = "sqlite:udmg.db";

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

namespace {

Error NoSharedJobs(std::string_view what) {
  return Error{ErrorCode::kBadInput,
               std::string(what) +
                   ": this store does not support shared jobs; run the job without the shared mode",
               "shared"};
}

}  // namespace

Result<int64_t> Store::FindOrCreateSharedJob(std::string_view, uint32_t,
                                             const std::vector<ColumnRef>&, const StaleFilter&,
                                             uint64_t) {
  return NoSharedJobs("starting a shared job");
}

Result<std::optional<JobRange>> Store::ClaimRange(int64_t, std::string_view, int64_t) {
  return NoSharedJobs("claiming a key range");
}

Status Store::RenewRange(const JobRange&, std::string_view, const std::optional<RowKey>&, int64_t,
                         bool) {
  return NoSharedJobs("renewing a key range");
}

Result<RangeCounts> Store::CountRanges(int64_t) { return NoSharedJobs("counting key ranges"); }

namespace {
Error NotSupported(std::string_view what) {
  return Error{ErrorCode::kInternal, std::string(what) + " is not supported by this store"};
}
}  // namespace

Result<std::string> Store::KeyringId() { return NotSupported("reading the keyring id"); }
Status Store::RecordBackup(const BackupRecord&) { return NotSupported("recording a backup"); }
Result<std::optional<BackupRecord>> Store::LatestBackup() {
  return NotSupported("reading the latest backup");
}
Status Store::RecordNode(const NodeRecord&) { return NotSupported("recording a node"); }
Result<std::vector<NodeRecord>> Store::ListNodes() { return NotSupported("listing nodes"); }
Status Store::UpdateKeyringChecked(const CheckedKeyringChange&, bool) {
  return NotSupported("a checked keyring change");
}
Result<std::vector<ReplacedKeyRecord>> Store::ListReplacedKeys() {
  return NotSupported("listing replaced keys");
}

Result<ReplicationState> Store::ReadReplication() {
  return Error{ErrorCode::kUsage, "this database has no streaming replicas (PostgreSQL only)"};
}

SessionAccess Store::Access() const { return SessionAccess(); }

Result<std::vector<bool>> Store::CompareAndSwap(const ColumnRef& column,
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

Status Store::RecordJobWait(int64_t, const std::optional<JobWait>&) { return Status::Ok(); }

Result<std::vector<int64_t>> Store::BlockingPids(int64_t) { return std::vector<int64_t>(); }

Result<std::optional<std::string>> Store::RowsHiddenFrom(const ColumnRef&) {
  return std::optional<std::string>();
}

Status RequireEveryRowVisible(Store& store, const std::vector<ColumnRef>& columns,
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

std::string ResolveDatabaseUrl(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return *flag;
  if (const char* env = std::getenv("UDMG_DATABASE_URL"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(kDefaultDatabaseUrl);
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, OpenMode mode) {
  UDMG_ASSIGN_OR_RETURN(const DatabaseUrl parsed, ParseDatabaseUrl(url));
  if (parsed.backend == Backend::kSqlite) {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                          sqlite::OpenSqliteStore(parsed.target, mode));
    return store;
  }
  // libpq takes the whole URL, both schemes.
  return postgres::OpenPostgresStore(parsed.target, postgres::PgStoreOptions{.mode = mode});
}

}  // namespace udmg::db
