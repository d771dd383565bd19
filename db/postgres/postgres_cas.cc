#include "db/postgres/postgres_cas.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <tuple>

#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// Temporary table of the COPY method: one per connection, emptied at every commit.
constexpr const char* kBatchTable = "udmg_cas_batch";
// Parameters per statement are limited to 65535; three per row in a VALUES list.
constexpr size_t kValuesRowsPerStatement = 20'000;

// One write that can match a row: its position in the batch and its key as bound text.
struct Pending {
  size_t index;
  std::string key;
  const CasWrite* write;
};

// The SQL pieces of one column.
struct Target {
  std::string table, column, key, key_type;
  Target(const ColumnRef& ref, const KeyColumnType& type)
      : table(type.table_sql),
        column(internal::QuoteIdentifier(ref.column)),
        key(internal::QuoteIdentifier(ref.key_column)),
        key_type(type.sql_type) {}
  // UPDATE from a relation w(ord, k, e, r) spelled by `from`, returning the ordinals applied and
  // whether each row holds what was written (RETURNING sees the row as a BEFORE trigger left it).
  std::string UpdateFrom(const std::string& from) const {
    return "UPDATE " + table + " AS t SET " + column + " = w.r FROM " + from + " WHERE t." + key +
           " = w.k::" + key_type + " AND t." + column + " = w.e RETURNING w.ord, " +
           AsWritten("t." + column, "w.r");
  }
  static std::string AsWritten(const std::string& stored, const std::string& written) {
    return "(" + stored + " IS NOT DISTINCT FROM " + written + ")";
  }
};

CasOutcome OutcomeOf(const pqxx::field& as_written) {
  return as_written.as<bool>() ? CasOutcome::kApplied : CasOutcome::kAltered;
}

void MarkApplied(const pqxx::result& rows, const std::vector<Pending>& pending, size_t first,
                 std::vector<CasOutcome>& applied) {
  for (const pqxx::row& row : rows) {
    size_t ordinal = row[0].as<size_t>();  // 1-based within the statement
    applied[pending.at(first + ordinal - 1).index] = OutcomeOf(row[1]);
  }
}

void RowByRow(PgConnection& connection, pqxx::transaction_base& transaction, const Target& target,
              const std::vector<Pending>& pending, std::vector<CasOutcome>& applied) {
  std::string statement =
      connection.Prepared("UPDATE " + target.table + " SET " + target.column + " = $1 WHERE " +
                          target.key + " = $2::" + target.key_type + " AND " + target.column +
                          " = $3 RETURNING " + Target::AsWritten(target.column, "$1"));
  for (const Pending& write : pending) {
    pqxx::result result = transaction.exec_prepared(statement, write.write->replacement, write.key,
                                                    write.write->expected);
    if (!result.empty()) applied[write.index] = OutcomeOf(result[0][0]);
  }
}

// A text[] parameter in PostgreSQL's binary array format (array_recv): the elements go over as
// length + bytes, so neither side quotes, escapes or parses them (the text literal cost the client
// ~6.7 k instructions per row and the server a character-by-character parse).
class BinaryTextArray {
 public:
  BinaryTextArray(size_t count, size_t bytes) {
    data_.reserve(5 * 4 + count * 4 + bytes);
    AppendInt32(1);          // dimensions
    AppendInt32(0);          // no NULL element
    AppendInt32(kTextOid);   // element type
    AppendInt32(static_cast<uint32_t>(count));
    AppendInt32(1);          // lower bound
  }
  void Add(std::string_view element) {
    AppendInt32(static_cast<uint32_t>(element.size()));
    data_.append(element);
  }
  pqxx::binarystring Take() const { return pqxx::binarystring(data_.data(), data_.size()); }

 private:
  static constexpr uint32_t kTextOid = 25;
  void AppendInt32(uint32_t value) {
    const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                           static_cast<char>(value >> 8), static_cast<char>(value)};
    data_.append(bytes, 4);
  }
  std::string data_;
};

void Unnest(PgConnection& connection, pqxx::transaction_base& transaction, const Target& target,
            const std::vector<Pending>& pending, std::vector<CasOutcome>& applied) {
  std::string statement = connection.Prepared(target.UpdateFrom(
      "unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(k, e, r, ord)"));
  size_t key_bytes = 0, expected_bytes = 0, replacement_bytes = 0;
  for (const Pending& write : pending) {
    key_bytes += write.key.size();
    expected_bytes += write.write->expected.size();
    replacement_bytes += write.write->replacement.size();
  }
  BinaryTextArray keys(pending.size(), key_bytes);
  BinaryTextArray expected(pending.size(), expected_bytes);
  BinaryTextArray replacements(pending.size(), replacement_bytes);
  for (const Pending& write : pending) {
    keys.Add(write.key);
    expected.Add(write.write->expected);
    replacements.Add(write.write->replacement);
  }
  MarkApplied(transaction.exec_prepared(statement, keys.Take(), expected.Take(),
                                        replacements.Take()),
              pending, 0, applied);
}

void Values(pqxx::transaction_base& transaction, const Target& target,
            const std::vector<Pending>& pending, std::vector<CasOutcome>& applied) {
  for (size_t first = 0; first < pending.size(); first += kValuesRowsPerStatement) {
    size_t count = std::min(kValuesRowsPerStatement, pending.size() - first);
    std::string rows;
    std::vector<std::string> parameters;
    parameters.reserve(3 * count);
    for (size_t i = 0; i < count; ++i) {
      size_t n = 3 * i;
      rows += (i ? ",(" : "(") + std::to_string(i + 1) + ",$" + std::to_string(n + 1) +
              "::text,$" + std::to_string(n + 2) + "::text,$" + std::to_string(n + 3) + "::text)";
      const Pending& write = pending[first + i];
      parameters.push_back(write.key);
      parameters.push_back(write.write->expected);
      parameters.push_back(write.write->replacement);
    }
    MarkApplied(transaction.exec_params(target.UpdateFrom("(VALUES " + rows + ") AS w(ord, k, e, r)"),
                                        pqxx::prepare::make_dynamic_params(parameters)),
                pending, first, applied);
  }
}

void Copy(PgConnection& connection, pqxx::transaction_base& transaction, const Target& target,
          const std::vector<Pending>& pending, std::vector<CasOutcome>& applied) {
  if (!connection.HasSessionObject(kBatchTable)) {
    transaction.exec(std::string("CREATE TEMPORARY TABLE IF NOT EXISTS ") + kBatchTable +
                     " (ord integer, k text, e text, r text) ON COMMIT DELETE ROWS");
  }
  {
    pqxx::stream_to stream(transaction, kBatchTable,
                           std::vector<std::string>{"ord", "k", "e", "r"});
    for (size_t i = 0; i < pending.size(); ++i) {
      stream << std::make_tuple(static_cast<int64_t>(i + 1), pending[i].key,
                                pending[i].write->expected, pending[i].write->replacement);
    }
    stream.complete();
  }
  std::string statement =
      connection.Prepared(target.UpdateFrom(std::string(kBatchTable) + " AS w"));
  MarkApplied(transaction.exec_prepared(statement), pending, 0, applied);
}

}  // namespace

std::string_view CasMethodName(CasMethod method) {
  switch (method) {
    case CasMethod::kUnnest:
      return "unnest";
    case CasMethod::kValues:
      return "values";
    case CasMethod::kCopy:
      return "copy";
    case CasMethod::kRowByRow:
      return "row-by-row";
  }
  return "unknown";
}

std::optional<CasMethod> ParseCasMethod(std::string_view name) {
  for (CasMethod method :
       {CasMethod::kUnnest, CasMethod::kValues, CasMethod::kCopy, CasMethod::kRowByRow}) {
    if (CasMethodName(method) == name) return method;
  }
  return std::nullopt;
}

Result<std::vector<CasOutcome>> CompareAndSwapBatch(PgConnection& connection, CasMethod method,
                                                    const ColumnRef& column,
                                                    const KeyColumnType& key_type,
                                                    std::span<const CasWrite> writes) {
  std::vector<Pending> pending;
  pending.reserve(writes.size());  // `keys` views the pending keys: no reallocation
  std::unordered_set<std::string_view> keys;
  keys.reserve(writes.size());
  bool repeated_key = false;
  for (size_t i = 0; i < writes.size(); ++i) {
    std::optional<std::string> key = KeyParameter(key_type, writes[i].key);
    if (!key) continue;  // no row can have it: false
    pending.push_back(Pending{i, std::move(*key), &writes[i]});
    repeated_key = !keys.insert(pending.back().key).second || repeated_key;
  }
  if (pending.empty()) return std::vector<CasOutcome>(writes.size(), CasOutcome::kNotApplied);
  // UPDATE ... FROM applies one of several matches per row; in order, each write sees the last.
  if (repeated_key) method = CasMethod::kRowByRow;
  Target target(column, key_type);
  // One statement is atomic on its own: it runs in autocommit, which saves the BEGIN and COMMIT
  // round trips (half of a one-row write's, as the read path's migrations make).
  const bool one_statement = method == CasMethod::kUnnest ||
                             (method == CasMethod::kValues &&
                              pending.size() <= kValuesRowsPerStatement) ||
                             (method == CasMethod::kRowByRow && pending.size() == 1);
  return connection.Run<std::vector<CasOutcome>>(
      "writing back " + column.Name(), Retry::kIdempotent,
      [&](pqxx::connection& live) -> Result<std::vector<CasOutcome>> {
        std::vector<CasOutcome> applied(writes.size(), CasOutcome::kNotApplied);
        std::optional<pqxx::nontransaction> autocommit;
        std::optional<pqxx::work> work;
        pqxx::transaction_base& transaction =
            one_statement ? static_cast<pqxx::transaction_base&>(autocommit.emplace(live))
                          : work.emplace(live);
        switch (method) {
          case CasMethod::kUnnest:
            Unnest(connection, transaction, target, pending, applied);
            break;
          case CasMethod::kValues:
            Values(transaction, target, pending, applied);
            break;
          case CasMethod::kCopy:
            Copy(connection, transaction, target, pending, applied);
            break;
          case CasMethod::kRowByRow:
            RowByRow(connection, transaction, target, pending, applied);
            break;
        }
        transaction.commit();  // a no-op in autocommit
        if (method == CasMethod::kCopy) connection.AddSessionObject(kBatchTable);
        return applied;
      });
}

}  // namespace udmg::db::postgres
