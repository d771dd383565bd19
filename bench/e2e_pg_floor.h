// The floor on PostgreSQL: the minimal client a person would write on raw libpq (no udmg library,
// no libpqxx), without crypto. Each works on the benchmark dataset (bench/e2e_dataset.h) at `url`
// ("postgresql://...") and returns the rows it wrote back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace udmg::bench {

// (b') Keyset reads of `batch_size` rows (SELECT id, secret ... WHERE id > $1 ORDER BY id LIMIT
// $2), then, per page, ONE statement writing every value back unchanged with a keyed
// compare-and-swap: UPDATE credentials AS t SET secret = u.v FROM unnest($1::bigint[],
// $2::text[]) AS u(id, v) WHERE t.id = u.id AND t.secret = u.v (autocommit: one transaction per
// page, one round trip per page, as the engine's batched compare-and-swap).
Result<uint64_t> RunPgRawRewriteUnnest(const std::string& url, size_t batch_size);

// (b'') The same reads, then per page BEGIN, a prepared UPDATE credentials SET secret = $1 WHERE
// id = $2 AND secret = $1 per row (one round trip per row), COMMIT.
Result<uint64_t> RunPgRawRewriteRowByRow(const std::string& url, size_t batch_size);

}  // namespace udmg::bench
