// The batched compare-and-swap write-back on PostgreSQL, four ways behind one function:
//   kUnnest    one UPDATE ... FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY,
//              prepared once; the arrays are sent in the binary array format;
//   kValues    one UPDATE ... FROM (VALUES ($1, $2, $3), ...) with 3 parameters per row;
//   kCopy      COPY into a per-connection temporary table, then UPDATE ... FROM it;
//   kRowByRow  one prepared UPDATE per row (the reference; what the SQLite backend does).
// Each returns, per write, whether it matched and was applied (and then whether the row holds
// what was written: RETURNING, no extra round trip), all in one transaction (one
// statement in autocommit when the method needs only one: unnest, a short VALUES list, one row).
// Chosen by measurement (docs/postgres.md): the default is kDefaultCasMethod.
//
// Thread-safety: none; runs on the caller's connection.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_keys.h"
#include "db/store.h"

namespace udmg::db::postgres {

enum class CasMethod { kUnnest, kValues, kCopy, kRowByRow };
inline constexpr CasMethod kDefaultCasMethod = CasMethod::kUnnest;

std::string_view CasMethodName(CasMethod method);  // "unnest", "values", "copy", "row-by-row"
std::optional<CasMethod> ParseCasMethod(std::string_view name);

// Writes back `writes` to `column` (key column of type `key_type`) in one transaction, retried
// as an idempotent operation. A write whose key no row can have is false without being sent.
// Writes that repeat a key run row by row, in order, so each sees the one before it.
Result<std::vector<CasOutcome>> CompareAndSwapBatch(PgConnection& connection, CasMethod method,
                                                    const ColumnRef& column,
                                                    const KeyColumnType& key_type,
                                                    std::span<const CasWrite> writes);

}  // namespace udmg::db::postgres
