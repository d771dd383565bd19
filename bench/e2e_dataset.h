// The end-to-end benchmark's dataset: credentials(id, name, secret) with N rows of 64-byte values
// encrypted under master version 1, then a master-key rotation so that every row is stale (the
// state a `rotate-master-key --reencrypt` starts from). Plaintexts are derived from the row id, so
// a run can be checked afterwards without keeping them anywhere.
//
// The root key is a fixed benchmark key (not a secret: the database is thrown away).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::bench {

inline constexpr size_t kBenchValueSize = 64;
inline const db::ColumnRef kBenchColumn{"credentials", "secret", "id"};

// The values of a dataset: all of 64 characters (kUniform), or of the sizes a real table holds
// (kMixed: empty values, short secrets, multibyte text, tokens, and values of 1 to 4 KiB that
// overflow a SQLite page).
enum class ValueMix { kUniform, kMixed };
// "uniform" or "mixed"; nullopt for any other name.
std::optional<ValueMix> ParseValueMix(std::string_view name);

// The plaintext of row `id`, derived from the id alone (a SplitMix64 stream seeded by it), so a
// run can be checked without keeping the plaintexts anywhere. kUniform: 64 hex characters.
std::string BenchPlaintext(int64_t id, ValueMix mix = ValueMix::kUniform);

// The benchmark K0.
SecretBytes BenchRootKey();

// Creates the dataset in a new SQLite file `path` (which must not exist).
Status GenerateDataset(const std::string& path, uint64_t rows, ValueMix mix);

// Creates the dataset in the database at `url` ("sqlite:PATH" or "postgresql://..."), which must
// hold no udmg schema and no credentials table yet.
Status GenerateDatasetAt(const std::string& url, uint64_t rows, ValueMix mix);

// "sqlite:PATH" for a file path, the URL itself for "postgresql://..." (the driver's argument).
std::string DatasetUrl(const std::string& path_or_url);
bool IsPostgresUrl(std::string_view url);

// Opens `url` and the keyring with BenchRootKey().
struct OpenedDataset {
  std::unique_ptr<db::Store> store;
  std::shared_ptr<const Keyring> keyring;
};
Result<OpenedDataset> OpenDataset(const std::string& url);

// Decrypts every row and compares it with BenchPlaintext; fails naming the first bad row.
// `expect_version`: every value must be under it (0: any version).
Status VerifyDataset(const std::string& url, uint32_t expect_version, uint64_t expect_rows,
                     ValueMix mix);

}  // namespace udmg::bench
