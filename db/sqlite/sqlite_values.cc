// SqliteStore: values of registered columns (read, write, stale scans, counts, compare-and-swap)
// and the demo table. Identifiers are validated and double-quoted; values are always bound.
#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "db/sqlite/sqlite_store.h"
#include "db/store_internal.h"

namespace udmg::db::sqlite {
namespace {

using internal::QuotedColumn;

// Pages are usually one batch (about 1000 rows): reserve that much, never a caller's huge limit.
constexpr size_t kPageReserveLimit = 4096;

// Stale values, with ?2 = the target prefix (TargetPrefix: "udmg:vN:", or "udmg:bN:" for a bound
// column), ?3 = its length, ?4 = include plaintext.
// substr() compares case-sensitively, unlike LIKE in SQLite.
std::string StalePredicate(const QuotedColumn& q) {
  return q.column + " IS NOT NULL AND CASE WHEN substr(" + q.column +
         ", 1, 5) = 'udmg:' THEN substr(" + q.column + ", 1, ?3) <> ?2 ELSE ?4 END";
}

// The column's binding comes from the caller's ColumnRef (as registered), never looked up here.
void BindStaleFilter(Statement& statement, const ColumnRef& column, const StaleFilter& filter) {
  std::string prefix = TargetPrefix(column, filter.target_version);
  statement.BindText(2, prefix);
  statement.BindInt(3, static_cast<int64_t>(prefix.size()));
  statement.BindInt(4, filter.include_plaintext ? 1 : 0);
}

// CountValues' group label of a non-NULL value from its first kLabelHeadChars characters, as
// internal::AddPrefixCount reads them: "plain", the text up to the second colon when it comes
// within them ("udmg:v4294967295:", "udmg:b7:" for a bound value), else "udmg:".
constexpr int kLabelHeadChars = 18;
std::string_view ValueLabel(std::string_view head) {
  constexpr std::string_view kEnvelope = "udmg:";
  if (head.substr(0, kEnvelope.size()) != kEnvelope) return internal::kPlaintextLabel;
  size_t colon = head.find(':', kEnvelope.size());
  return head.substr(0, colon == std::string_view::npos ? kEnvelope.size() : colon + 1);
}

Status NoSuchRow(const ColumnRef& column, const RowKey& key) {
  return Status(ErrorCode::kNotFound, "no row of table '" + column.table + "' has " +
                                          column.key_column + " = " + RowKeyText(key) +
                                          "; check the key");
}

}  // namespace

Result<std::optional<StoredValue>> SqliteStore::ReadValue(const ColumnRef& column,
                                                          const RowKey& key) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(Statement read,
                        connection_->Prepare("SELECT " + q.key + ", " + q.column + " FROM " +
                                                 q.table + " WHERE " + q.key + " = ?1 LIMIT 1",
                                             "reading " + column.Name()));
  read.BindKey(1, key);
  UDMG_ASSIGN_OR_RETURN(bool found, read.Step());
  if (!found) return std::optional<StoredValue>();
  return std::optional<StoredValue>(StoredValue{read.Key(0), read.OptionalText(1)});
}

Status SqliteStore::WriteValue(const ColumnRef& column, const RowKey& key,
                               const std::optional<std::string>& value) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  std::string what = "writing " + column.Name();
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, what));
  {
    UDMG_ASSIGN_OR_RETURN(
        Statement write,
        connection_->Prepare(
            "UPDATE " + q.table + " SET " + q.column + " = ?1 WHERE " + q.key + " = ?2", what));
    write.BindOptionalText(1, value);
    write.BindKey(2, key);
    UDMG_RETURN_IF_ERROR(write.Run());
    if (connection_->Changes() == 0) return NoSuchRow(column, key);
  }
  return transaction.Commit();
}

Result<std::vector<StoredValue>> SqliteStore::FetchPage(const ColumnRef& column,
                                                        const std::string& where,
                                                        const StaleFilter* filter,
                                                        const std::optional<RowKey>& after,
                                                        size_t limit) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  // Two statements rather than "?1 IS NULL OR key > ?1", which would stop the index range scan.
  std::string from_key = after ? q.key + " > ?1" : q.key + " IS NOT NULL";
  UDMG_ASSIGN_OR_RETURN(
      Statement page,
      connection_->Prepare("SELECT " + q.key + ", " + q.column + " FROM " + q.table + " WHERE " +
                               from_key + " AND (" + where + ") ORDER BY " + q.key + " LIMIT ?5",
                           "scanning " + column.Name()));
  if (after) page.BindKey(1, *after);
  if (filter != nullptr) BindStaleFilter(page, column, *filter);
  page.BindInt(5, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<StoredValue> values;
  values.reserve(std::min<size_t>(limit, kPageReserveLimit));
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, page.Step());
    if (!has_row) break;
    values.push_back(StoredValue{page.Key(0), page.OptionalText(1)});
  }
  return values;
}

Result<std::vector<StoredValue>> SqliteStore::FetchStale(const ColumnRef& column,
                                                         const StaleFilter& filter,
                                                         const std::optional<RowKey>& after,
                                                         size_t limit) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return FetchPage(column, StalePredicate(QuotedColumn(column)), &filter, after, limit);
}

Result<std::vector<StoredValue>> SqliteStore::FetchValues(const ColumnRef& column,
                                                          const std::optional<RowKey>& after,
                                                          size_t limit) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  return FetchPage(column, QuotedColumn(column).column + " IS NOT NULL", nullptr, after, limit);
}

Result<uint64_t> SqliteStore::CountStale(const ColumnRef& column, const StaleFilter& filter) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(
      Statement count,
      connection_->Prepare("SELECT count(*) FROM " + q.table + " WHERE " + StalePredicate(q),
                           "counting stale values of " + column.Name()));
  BindStaleFilter(count, column, filter);
  UDMG_ASSIGN_OR_RETURN(bool has_row, count.Step());
  return has_row ? static_cast<uint64_t>(count.Int(0)) : uint64_t{0};
}

Result<uint64_t> SqliteStore::CountUnaddressable(const ColumnRef& column,
                                                 const StaleFilter* filter) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  std::string values = filter ? StalePredicate(q) : q.column + " IS NOT NULL";
  UDMG_ASSIGN_OR_RETURN(Statement count,
                        connection_->Prepare("SELECT count(*) FROM " + q.table + " WHERE " +
                                                 q.key + " IS NULL AND " + values,
                                             "counting rows of " + column.Name() +
                                                 " without a key"));
  if (filter) BindStaleFilter(count, column, *filter);
  UDMG_ASSIGN_OR_RETURN(bool has_row, count.Step());
  return has_row ? static_cast<uint64_t>(count.Int(0)) : uint64_t{0};
}

Result<std::vector<RowKey>> SqliteStore::SampleRangeBounds(const ColumnRef& column,
                                                           const StaleFilter& filter,
                                                           uint64_t rows_per_range) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(
      Statement bounds,
      connection_->Prepare("SELECT k FROM (SELECT " + q.key + " AS k, row_number() OVER (ORDER BY " +
                               q.key + ") AS n FROM " + q.table + " WHERE " + q.key +
                               " IS NOT NULL AND " + StalePredicate(q) +
                               ") WHERE n % ?1 = 0 ORDER BY k",
                           "splitting " + column.Name() + " into key ranges"));
  bounds.BindInt(1, static_cast<int64_t>(std::max<uint64_t>(1, rows_per_range)));
  BindStaleFilter(bounds, column, filter);
  std::vector<RowKey> keys;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, bounds.Step());
    if (!has_row) break;
    keys.push_back(bounds.Key(0));
  }
  return keys;
}

Result<ValueCounts> SqliteStore::CountValues(const ColumnRef& column) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  QuotedColumn q(column);
  // Labelled and counted here from each value's first characters rather than with a CASE
  // expression and GROUP BY: SQLite sorts every row through a temporary b-tree for a handful of
  // groups (docs/performance.md, "Counting values": 11.2 s against 2 s at 10M rows).
  UDMG_ASSIGN_OR_RETURN(Statement heads,
                        connection_->Prepare("SELECT substr(" + q.column + ", 1, " +
                                                 std::to_string(kLabelHeadChars) + ") FROM " +
                                                 q.table,
                                             "counting values of " + column.Name()));
  std::map<std::string, uint64_t, std::less<>> per_label;
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, heads.Step());
    if (!has_row) break;
    std::string_view label =
        heads.IsNull(0) ? internal::kNullLabel : ValueLabel(heads.TextView(0));
    auto found = per_label.find(label);
    if (found == per_label.end()) found = per_label.emplace(std::string(label), 0).first;
    ++found->second;
  }
  ValueCounts counts;
  for (const auto& [label, values] : per_label) internal::AddPrefixCount(label, values, counts);
  return counts;
}

// The UPDATE of a compare-and-swap, and the read-back of a row it wrote: SQLite's RETURNING shows
// the row before AFTER triggers run, and a trigger here can only change a row by updating it
// again, so the row is read back (in-process, by its key: no round trip). Only a table with a
// trigger can change what was written: without one there is no read-back (it costs ~40 % of the
// write's instructions: docs/performance.md).
struct SqliteStore::CasStatements {
  Statement swap;
  std::optional<Statement> read_back;
};

Result<bool> SqliteStore::HasTrigger(const std::string& table, const std::string& what) {
  UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> trigger,
                        connection_->QueryInt("SELECT 1 FROM sqlite_schema WHERE type = 'trigger' "
                                              "AND tbl_name = ?1 COLLATE NOCASE LIMIT 1",
                                              what, table));
  return trigger.has_value();
}

Result<SqliteStore::CasStatements> SqliteStore::PrepareCas(const ColumnRef& column,
                                                           bool has_trigger,
                                                           const std::string& what) {
  QuotedColumn q(column);
  UDMG_ASSIGN_OR_RETURN(Statement swap, connection_->Prepare("UPDATE " + q.table + " SET " +
                                                                 q.column + " = ?1 WHERE " + q.key +
                                                                 " = ?2 AND " + q.column + " = ?3",
                                                             what));
  CasStatements statements{std::move(swap), std::nullopt};
  if (has_trigger) {
    UDMG_ASSIGN_OR_RETURN(
        Statement read_back,
        connection_->Prepare(
            "SELECT " + q.column + " IS ?1 FROM " + q.table + " WHERE " + q.key + " = ?2", what));
    statements.read_back.emplace(std::move(read_back));
  }
  return statements;
}

Result<std::vector<CasOutcome>> SqliteStore::RangeCas(const ColumnRef& column,
                                                      std::span<const CasWrite> writes,
                                                      const std::string& what) {
  if (!range_cas_) {
    UDMG_ASSIGN_OR_RETURN(range_cas_, RangeCompareAndSwap::Register(*connection_));
  }
  return range_cas_->Run(*connection_, column, writes, what);
}

Result<CasOutcome> SqliteStore::RunCas(CasStatements& statements, const CasWrite& write) {
  statements.swap.BindBorrowedText(1, write.replacement);
  statements.swap.BindKey(2, write.key);
  statements.swap.BindBorrowedText(3, write.expected);
  UDMG_RETURN_IF_ERROR(statements.swap.Run());
  if (connection_->Changes() == 0) return CasOutcome::kNotApplied;
  if (!statements.read_back) return CasOutcome::kApplied;
  Statement& read_back = *statements.read_back;
  read_back.BindBorrowedText(1, write.replacement);
  read_back.BindKey(2, write.key);
  UDMG_ASSIGN_OR_RETURN(bool has_row, read_back.Step());
  bool as_written = has_row && read_back.Int(0) != 0;
  read_back.Reset();
  return as_written ? CasOutcome::kApplied : CasOutcome::kAltered;
}

Result<std::vector<CasOutcome>> SqliteStore::CompareAndSwapChecked(
    const ColumnRef& column, std::span<const CasWrite> writes) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  std::vector<CasOutcome> outcomes;
  if (writes.empty()) return outcomes;
  std::string what = "writing back " + column.Name();
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, what));
  UDMG_ASSIGN_OR_RETURN(bool has_trigger, HasTrigger(column.table, what));
  if (!has_trigger && SuitsRangeUpdate(writes)) {
    UDMG_ASSIGN_OR_RETURN(outcomes, RangeCas(column, writes, what));
  } else {
    UDMG_ASSIGN_OR_RETURN(CasStatements statements, PrepareCas(column, has_trigger, what));
    outcomes.reserve(writes.size());
    // `writes` outlives the statements (their destructors clear the bindings): no per-value copy.
    for (const CasWrite& write : writes) {
      UDMG_ASSIGN_OR_RETURN(CasOutcome outcome, RunCas(statements, write));
      outcomes.push_back(outcome);
    }
  }
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return outcomes;
}

Result<RowWriteResult> SqliteStore::CompareAndSwapOne(const ColumnRef& column,
                                                     const CasWrite& write) {
  UDMG_RETURN_IF_ERROR(internal::ValidateColumnRef(column));
  std::string what = "writing back " + column.Name();
  UDMG_ASSIGN_OR_RETURN(Transaction transaction,
                        Transaction::Begin(*connection_, Transaction::Kind::kWrite, what));
  RowWriteResult result;
  {
    UDMG_ASSIGN_OR_RETURN(bool has_trigger, HasTrigger(column.table, what));
    UDMG_ASSIGN_OR_RETURN(CasStatements statements, PrepareCas(column, has_trigger, what));
    Result<CasOutcome> outcome = RunCas(statements, write);
    if (!outcome.ok()) {
      if (!statements.swap.data_refusal()) return outcome.error();
      result.refused =
          statements.swap.data_refusal();  // the transaction rolls back: nothing written
      return result;
    }
    result.applied = WasWritten(*outcome);
    result.altered = *outcome == CasOutcome::kAltered;
  }
  UDMG_RETURN_IF_ERROR(transaction.Commit());
  return result;
}

}  // namespace udmg::db::sqlite
