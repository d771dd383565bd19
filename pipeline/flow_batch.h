// One batch of the re-encryption pipeline (pipeline/reencrypt.h) and the crypto stage's work on
// it. Internal to pipeline/: the flow graph passes batches between its stages by shared_ptr, and
// each stage touches a batch only while it holds it (no two stages at once).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/value_cipher.h"

namespace udmg::pipeline {

// A stored value that will not decrypt; recorded in udmg_reencrypt_failures, never overwritten.
struct RowFailure {
  db::RowKey key;
  uint32_t version = 0;         // 0 when the envelope is malformed
  std::string_view error_class;  // one of pipeline/value_failure.h's constants
};

struct Batch {
  uint64_t sequence = 0;                 // fetch order, from 0 in each pass: the commit order
  std::vector<db::StoredValue> rows;     // as read; emptied by the crypto stage
  std::vector<db::CasWrite> writes;      // old value -> envelope under the target version
  std::vector<RowFailure> failures;
  std::optional<db::RowKey> last_key;    // the checkpoint once this batch is committed
  bool end_of_scan = false;              // the fetch found no more stale rows after this batch
  std::optional<Error> error;            // a stage failed on this batch: nothing after it commits
  std::chrono::steady_clock::duration fetch_time{};   // the read alone (for metrics)
  std::chrono::steady_clock::duration crypto_time{};  // TransformBatch (for metrics)
};
using BatchPtr = std::shared_ptr<Batch>;

// True when `value` of `column` is one a migration to `filter.target_version` must touch (the
// same predicate as db::Store::FetchStale, evaluated here).
bool IsStale(std::string_view value, const db::ColumnRef& column, const db::StaleFilter& filter);

// The crypto stage: for every row, decrypts it (any readable version, either envelope form) and
// encrypts it under the cipher's active version, in `column`'s form (bound or not), into
// `writes`; a row that does not decrypt goes to `failures`. Legacy plaintext is encrypted as it
// is. NULLs and rows that are not stale are dropped. Moves the read values out of `rows`. Per-row
// failures are data, never errors; returns an error only when encryption itself fails (an
// OpenSSL failure: the job must stop).
Status TransformBatch(ValueCipher& cipher, const db::ColumnRef& column,
                      const db::StaleFilter& filter, Batch& batch);

}  // namespace udmg::pipeline
