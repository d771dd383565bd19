#include "db/sqlite/sqlite_range_cas.h"

#include <algorithm>
#include <cstring>
#include <variant>

#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

constexpr char kMatches[] = "udmg_cas_matches";
constexpr char kReplacement[] = "udmg_cas_replacement";

int64_t IntKey(const CasWrite& write) { return std::get<int64_t>(write.key); }

}  // namespace

bool SuitsRangeUpdate(std::span<const CasWrite> writes) {
  if (writes.empty()) return false;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (!std::holds_alternative<int64_t>(writes[i].key)) return false;
    if (i > 0 && IntKey(writes[i - 1]) >= IntKey(writes[i])) return false;
  }
  // Unsigned: the difference of two int64 keys may not fit an int64.
  uint64_t span =
      static_cast<uint64_t>(IntKey(writes.back())) - static_cast<uint64_t>(IntKey(writes.front()));
  return span / kRangeRowsPerWrite < writes.size();
}

Result<std::unique_ptr<RangeCompareAndSwap>> RangeCompareAndSwap::Register(Connection& connection) {
  std::unique_ptr<RangeCompareAndSwap> functions(new RangeCompareAndSwap());
  // Not SQLITE_DETERMINISTIC: the answer depends on the batch, so SQLite calls them for every row.
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
  UDMG_RETURN_IF_ERROR(connection.CreateFunction(kMatches, 2, kFlags, functions.get(), &Matches));
  UDMG_RETURN_IF_ERROR(
      connection.CreateFunction(kReplacement, 1, kFlags, functions.get(), &Replacement));
  return functions;
}

Result<std::vector<CasOutcome>> RangeCompareAndSwap::Run(Connection& connection,
                                                         const ColumnRef& column,
                                                         std::span<const CasWrite> writes,
                                                         std::string_view what) {
  internal::QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(
      Statement update,
      connection.Prepare("UPDATE " + q.table + " SET " + q.column + " = " + kReplacement + "(" +
                             q.key + ") WHERE " + q.key + " BETWEEN ?1 AND ?2 AND " + kMatches +
                             "(" + q.key + ", " + q.column + ")",
                         what));
  std::vector<CasOutcome> outcomes(writes.size(), CasOutcome::kNotApplied);
  writes_ = writes;
  outcomes_ = &outcomes;
  next_ = 0;
  update.BindInt(1, IntKey(writes.front()));
  update.BindInt(2, IntKey(writes.back()));
  Status ran = update.Run();
  writes_ = {};
  outcomes_ = nullptr;
  UDMG_RETURN_IF_ERROR(ran);
  auto applied = std::count(outcomes.begin(), outcomes.end(), CasOutcome::kApplied);
  if (applied != connection.Changes()) {
    // Cannot happen: each row is matched once and written once. Said rather than trusted.
    return Error{ErrorCode::kDatabase, connection.describe() + ": " + std::string(what) +
                                           ": the range update wrote " +
                                           std::to_string(connection.Changes()) +
                                           " rows but matched " + std::to_string(applied)};
  }
  return outcomes;
}

std::optional<size_t> RangeCompareAndSwap::Find(sqlite3_value* key) {
  if (sqlite3_value_type(key) != SQLITE_INTEGER) return std::nullopt;
  int64_t wanted = sqlite3_value_int64(key);
  // Each row asks twice (matches, then replacement), and the next row is usually the next write.
  for (size_t candidate : {next_, next_ + 1}) {
    if (candidate < writes_.size() && IntKey(writes_[candidate]) == wanted) {
      next_ = candidate;
      return next_;
    }
  }
  auto found =
      std::lower_bound(writes_.begin(), writes_.end(), wanted,
                       [](const CasWrite& write, int64_t value) { return IntKey(write) < value; });
  if (found == writes_.end() || IntKey(*found) != wanted) return std::nullopt;
  next_ = static_cast<size_t>(found - writes_.begin());
  return next_;
}

// udmg_cas_matches(key, value): 1 when the row is in the batch and holds exactly (same type, same
// bytes) the value that was read, and records that the row is written; else 0.
void RangeCompareAndSwap::Matches(sqlite3_context* context, int, sqlite3_value** argv) {
  auto* self = static_cast<RangeCompareAndSwap*>(sqlite3_user_data(context));
  std::optional<size_t> index = self->running() ? self->Find(argv[0]) : std::nullopt;
  bool matches = false;
  if (index && sqlite3_value_type(argv[1]) == SQLITE_TEXT) {
    const std::string& expected = self->writes_[*index].expected;
    const unsigned char* stored = sqlite3_value_text(argv[1]);
    matches = stored != nullptr &&
              static_cast<size_t>(sqlite3_value_bytes(argv[1])) == expected.size() &&
              std::memcmp(stored, expected.data(), expected.size()) == 0;
  }
  if (matches) (*self->outcomes_)[*index] = CasOutcome::kApplied;
  sqlite3_result_int(context, matches ? 1 : 0);
}

// udmg_cas_replacement(key): the value to write to a row udmg_cas_matches accepted. Not copied:
// the batch outlives the statement.
void RangeCompareAndSwap::Replacement(sqlite3_context* context, int, sqlite3_value** argv) {
  auto* self = static_cast<RangeCompareAndSwap*>(sqlite3_user_data(context));
  std::optional<size_t> index = self->running() ? self->Find(argv[0]) : std::nullopt;
  if (!index) {
    sqlite3_result_error(context, "udmg_cas_replacement: a row outside the batch", -1);
    return;
  }
  const std::string& replacement = self->writes_[*index].replacement;
  sqlite3_result_text64(context, replacement.data(), replacement.size(), SQLITE_STATIC,
                        SQLITE_UTF8);
}

}  // namespace udmg::db::sqlite
