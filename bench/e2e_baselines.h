// The baselines the re-encryption pipeline is measured against. Each works on
// the benchmark dataset (bench/e2e_dataset.h) and returns the rows it handled.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace udmg::bench {

// (a) The naive client: one thread, one row at a time through the same library — read the next
// stale row (Store::FetchStale, limit 1), decrypt, encrypt, write it back with a one-row
// Store::CompareAndSwap, which is its own transaction (autocommit per row; WAL with
// synchronous=NORMAL as the library sets it, so no fsync per commit).
Result<uint64_t> RunNaiveRowByRow(const std::string& url);

// (a') The same loop in ONE transaction, on a raw SQLite handle (the Store has no transaction
// API): SELECT the next stale row by key, decrypt, encrypt, UPDATE ... WHERE id AND secret — one
// row at a time, one BEGIN/COMMIT around it all. The fairest naive loop on SQLite.
Result<uint64_t> RunNaiveOneTransaction(const std::string& sqlite_path);

// (b) The no-crypto client rewrite, the floor under any client-side engine: the same
// keyset-paginated reads (Store::FetchStale) and keyed compare-and-swap UPDATEs
// (Store::CompareAndSwap) in the same batches as the pipeline, each value written back unchanged.
Result<uint64_t> RunRewriteNoCrypto(const std::string& url, size_t batch_size);

// (b') The floor without our library: the minimal client a person would write on the raw sqlite3
// API, without crypto. Keyset reads of `batch_size` rows (WHERE id > ? ORDER BY id LIMIT ?), then,
// per batch, one BEGIN IMMEDIATE transaction of a prepared UPDATE ... SET secret = ? WHERE id = ?
// AND secret = ? per row, each value written back unchanged.
//
// SQLite does not write a row whose new record is byte for byte the old one (the b-tree compares
// before it dirties the page), so that floor writes nothing to the file. `change_bytes` makes it
// write what a re-encryption writes: each value with its version digit changed ("udmg:v1:" to
// "udmg:v2:", same length), so every page is dirtied, logged to the WAL and checkpointed
// (`floor-write`). The values are then no longer valid envelopes: nothing verifies that run.
Result<uint64_t> RunRawRewriteNoCrypto(const std::string& sqlite_path, size_t batch_size,
                                       bool change_bytes = false);

// (c) For information: SQLite rewriting the column itself,
// UPDATE credentials SET secret = secret || '' (one statement, no client round trips).
Result<uint64_t> RunInDatabaseRewrite(const std::string& sqlite_path);

}  // namespace udmg::bench
