#include "bench/e2e_dataset.h"

#include <ctime>
#include <filesystem>
#include <vector>

#include "db/demo_table.h"
#include "engine/envelope.h"
#include "engine/root_key.h"
#include "engine/value_cipher.h"

namespace udmg::bench {
namespace {

constexpr std::string_view kBenchRootKeyHex =
    "0b5e1c7a9f3d2e4b6a8c0d1f2e3b4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c";
constexpr size_t kInsertChunk = 10000;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The kinds of value in a mixed dataset: their share in percent and their sizes in bytes.
struct MixedKind {
  uint64_t percent;
  size_t min_size;
  size_t max_size;
  bool multibyte;
};
constexpr MixedKind kMixedKinds[] = {
    {5, 0, 0, false},         // empty values
    {25, 8, 40, false},       // short secrets
    {20, 20, 300, true},      // UTF-8 text
    {40, 64, 512, false},     // tokens
    {10, 1024, 4096, false},  // 1 to 4 KiB: they overflow a SQLite page
};

}  // namespace

std::optional<ValueMix> ParseValueMix(std::string_view name) {
  if (name == "uniform") return ValueMix::kUniform;
  if (name == "mixed") return ValueMix::kMixed;
  return std::nullopt;
}

std::string BenchPlaintext(int64_t id, ValueMix mix) {
  uint64_t state = static_cast<uint64_t>(id);
  size_t size = kBenchValueSize;
  bool multibyte = false;
  if (mix == ValueMix::kMixed) {
    const uint64_t draw = SplitMix64(state);
    uint64_t percentile = draw % 100;
    const MixedKind* kind = kMixedKinds;
    while (percentile >= kind->percent) percentile -= (kind++)->percent;
    size = kind->min_size + (draw >> 32) % (kind->max_size - kind->min_size + 1);
    multibyte = kind->multibyte;
  }
  // Two-byte (Cyrillic), three-byte (CJK) and four-byte (emoji) characters beside ASCII.
  static constexpr std::string_view kPieces[] = {"\xd0\xbf\xd0\xb0", "\xe5\xaf\x86",
                                                 "\xf0\x9f\x94\x91", "-"};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(size + 4);
  while (text.size() < size) {
    uint64_t word = SplitMix64(state);
    for (int i = 0; i < 16 && text.size() < size; ++i, word >>= 4) {
      if (multibyte && (word & 3) == 0) {
        const std::string_view piece = kPieces[(word >> 2) & 3];
        if (text.size() + piece.size() > size) break;
        text += piece;
      } else {
        text += kHex[word & 15];
      }
    }
  }
  return text;
}

SecretBytes BenchRootKey() {
  auto key = ParseRootKey(kBenchRootKeyHex, "the benchmark key");
  return std::move(key).value();
}

bool IsPostgresUrl(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string DatasetUrl(const std::string& path_or_url) {
  return IsPostgresUrl(path_or_url) ? path_or_url : "sqlite:" + path_or_url;
}

Status GenerateDataset(const std::string& path, uint64_t rows, ValueMix mix) {
  if (std::filesystem::exists(path)) {
    return Status(ErrorCode::kConflict, path + " exists: give a new file for the dataset");
  }
  return GenerateDatasetAt("sqlite:" + path, rows, mix);
}

Status GenerateDatasetAt(const std::string& url, uint64_t rows, ValueMix mix) {
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, db::OpenStore(url));
  UDMG_RETURN_IF_ERROR(store->Migrate());
  const SecretBytes k0 = BenchRootKey();
  const int64_t now = std::time(nullptr);
  UDMG_RETURN_IF_ERROR(store->UpdateKeyring([&](const std::optional<KeyringRecords>&) {
    return Result<KeyringRecords>(NewKeyringRecords(k0, RandomSecret(32), now));
  }));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> records, store->LoadKeyring());
  UDMG_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keyring, Keyring::Open(*records, k0));
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::DemoTable> demo, db::OpenDemoTable(url));
  UDMG_RETURN_IF_ERROR(demo->Create());
  UDMG_RETURN_IF_ERROR(store->AddColumn(kBenchColumn));

  ValueCipher cipher(keyring);
  std::vector<db::DemoRow> chunk;
  for (uint64_t id = 1; id <= rows; ++id) {
    UDMG_ASSIGN_OR_RETURN(std::string secret,
                          cipher.Encrypt(BenchPlaintext(static_cast<int64_t>(id), mix)));
    chunk.push_back({static_cast<int64_t>(id), "cred-" + std::to_string(id), std::move(secret)});
    if (chunk.size() == kInsertChunk || id == rows) {
      UDMG_RETURN_IF_ERROR(demo->Insert(chunk));
      chunk.clear();
    }
  }
  UDMG_RETURN_IF_ERROR(store->AddEncryptions(cipher.encryptions()).status());
  // Every row is now stale: version 2 is active.
  return store->UpdateKeyring([&](const std::optional<KeyringRecords>& current) {
    return RotateMasterKey(*current, k0, RandomSecret(32), now);
  });
}

Result<OpenedDataset> OpenDataset(const std::string& url) {
  OpenedDataset opened;
  UDMG_ASSIGN_OR_RETURN(opened.store, db::OpenStore(url));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> records, opened.store->LoadKeyring());
  if (!records) return Error{ErrorCode::kNotInitialized, url + " holds no benchmark dataset"};
  UDMG_ASSIGN_OR_RETURN(opened.keyring, Keyring::Open(*records, BenchRootKey()));
  return opened;
}

Status VerifyDataset(const std::string& url, uint32_t expect_version, uint64_t expect_rows,
                     ValueMix mix) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset(url));
  ValueCipher cipher(dataset.keyring);
  std::optional<db::RowKey> after;
  uint64_t seen = 0;
  while (true) {
    UDMG_ASSIGN_OR_RETURN(std::vector<db::StoredValue> page,
                          dataset.store->FetchValues(kBenchColumn, after, 10000));
    if (page.empty()) break;
    for (const db::StoredValue& row : page) {
      const std::string where = "row " + db::RowKeyText(row.key);
      UDMG_ASSIGN_OR_RETURN(EnvelopeParts parts, ParseEnvelope(*row.value));
      if (expect_version != 0 && parts.version != expect_version) {
        return Status(ErrorCode::kIncomplete, where + " is still under version " +
                                                  std::to_string(parts.version));
      }
      UDMG_ASSIGN_OR_RETURN(SecretBytes plaintext, cipher.Decrypt(*row.value));
      if (AsText(plaintext) != BenchPlaintext(std::get<int64_t>(row.key), mix)) {
        return Status(ErrorCode::kCorruptValue, where + " does not hold its plaintext");
      }
      ++seen;
    }
    after = page.back().key;
  }
  if (seen != expect_rows) {
    return Status(ErrorCode::kIncomplete, "found " + std::to_string(seen) + " rows, expected " +
                                              std::to_string(expect_rows));
  }
  return Status::Ok();
}

}  // namespace udmg::bench
