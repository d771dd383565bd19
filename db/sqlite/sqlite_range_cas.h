// A batch of compare-and-swaps on integer-keyed rows as one range UPDATE: the UPDATE walks the
// batch's key range once, and two application-defined SQL functions decide row by row, against
// the value stored at that moment, whether the row is written and with what. A per-row UPDATE
// descends the table's b-tree once for every row instead (docs/storage.md, "Compare-and-swap").
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "db/sqlite/sqlite_connection.h"
#include "db/store.h"

namespace udmg::db::sqlite {

// Whether `writes` suit one range UPDATE: integer keys in ascending order, none repeated, and a
// key range at most kRangeRowsPerWrite times the batch (the UPDATE reads every row of the range;
// sparse batches, a sweep's scattered stale rows, are cheaper row by row).
inline constexpr int64_t kRangeRowsPerWrite = 4;
bool SuitsRangeUpdate(std::span<const CasWrite> writes);

class RangeCompareAndSwap {
 public:
  // Registers the functions on `connection` (for statements run directly, never from a trigger,
  // a view or the schema); the object must outlive every statement that calls them.
  static Result<std::unique_ptr<RangeCompareAndSwap>> Register(Connection& connection);

  // Inside the caller's write transaction; `writes` must suit (SuitsRangeUpdate). A row written
  // is kApplied, every other kNotApplied (its value changed since it was read, or it is gone).
  Result<std::vector<CasOutcome>> Run(Connection& connection, const ColumnRef& column,
                                      std::span<const CasWrite> writes, std::string_view what);

 private:
  RangeCompareAndSwap() = default;
  static void Matches(sqlite3_context* context, int argc, sqlite3_value** argv);
  static void Replacement(sqlite3_context* context, int argc, sqlite3_value** argv);
  // The index in writes_ of the row whose key is `key`, if any.
  std::optional<size_t> Find(sqlite3_value* key);
  bool running() const { return outcomes_ != nullptr; }

  // Set for the length of one Run.
  std::span<const CasWrite> writes_;
  std::vector<CasOutcome>* outcomes_ = nullptr;
  size_t next_ = 0;  // the write of the row asked about last
};

}  // namespace udmg::db::sqlite
