// The PostgreSQL parts of the end-to-end benchmark, on raw libpqxx connections (the Store has no
// statement API): the pgcrypto peer table, the in-database rewrites, the naive loop in one
// transaction, and the planner statistics of a fresh dataset. Each works on the benchmark dataset
// (bench/e2e_dataset.h) at `url` ("postgresql://...") and returns the rows it handled.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "bench/e2e_dataset.h"

namespace udmg::bench {

// The peer's table: credentials_pgcrypto(id integer PK, secret bytea) holding, for every id of
// credentials, BenchPlaintext(id, mix) encrypted by pgcrypto's encrypt(data, key, 'aes')
// (AES-256-CBC, PKCS padding) under a fixed old key. Needs the pgcrypto extension (created if
// missing).
Status AddPgcryptoPeer(const std::string& url, uint64_t rows, ValueMix mix);

// VACUUM (FREEZE, ANALYZE) of both tables, so every copy of the dataset starts with hint bits
// set, an all-visible map and planner statistics (no run pays for them).
Status VacuumDataset(const std::string& url);

// (c) PostgreSQL rewriting the column itself: UPDATE credentials SET secret = secret || ''.
Result<uint64_t> RunPgInDatabaseRewrite(const std::string& url);

// The peer an operator might reach for: re-encryption inside the database with pgcrypto,
// UPDATE credentials_pgcrypto SET secret = encrypt(decrypt(secret, old, 'aes'), new, 'aes').
Result<uint64_t> RunPgcryptoPeer(const std::string& url);

// (a') The naive loop in ONE transaction on PostgreSQL: SELECT the next stale row by key,
// decrypt, encrypt, UPDATE ... WHERE id AND secret — one row at a time (two round trips per row),
// one BEGIN/COMMIT around it all. The fair naive loop: no commit per row.
Result<uint64_t> RunPgNaiveOneTransaction(const std::string& url);

// Every `stride`-th row of the peer's table decrypts under the new key to its plaintext, and the
// table has `expect_rows` rows.
Status VerifyPgcryptoPeer(const std::string& url, uint64_t expect_rows, uint64_t stride,
                          ValueMix mix);

}  // namespace udmg::bench
