// Shared by the two backup harnesses: the fixed passphrase, the cheapest cost OpenBackup accepts
// (the production bounds are not changed for fuzzing), and the round trip of a backup that opens.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <span>
#include <vector>

#include "engine/backup.h"
#include "fuzz/fuzz_check.h"

namespace udmg::fuzz {

inline constexpr std::string_view kFuzzPassphrase = "fuzz passphrase, not a secret";
// N = 2^10, r = 1, p = 1: 128 KiB, well under a millisecond (engine/backup.h accepts no less).
inline constexpr ScryptCost kCheapestCost{10, 1, 1};

// The header check of docs/formats.md, written again here as the harnesses' oracle: magic,
// format 1, scrypt, cost within bounds, a body that holds a tag and ends where the file ends.
inline bool HeaderAccepted(std::span<const uint8_t> file) {
  if (file.size() < kBackupHeaderSize ||
      !std::equal(kBackupMagic.begin(), kBackupMagic.end(), file.begin()) ||
      file[8] != kBackupFormat || file[9] != 1) {
    return false;
  }
  auto u32 = [&file](size_t at) {
    return uint32_t{file[at]} << 24 | uint32_t{file[at + 1]} << 16 | uint32_t{file[at + 2]} << 8 |
           file[at + 3];
  };
  const uint32_t log2_n = file[10], r = u32(11), p = u32(15), body = u32(47);
  const bool cost_ok = log2_n >= 10 && log2_n <= 22 && r >= 1 && r <= 32 && p >= 1 && p <= 16 &&
                       (uint64_t{1} << log2_n) * r * 128 <= (uint64_t{1} << 30);
  return cost_ok && body >= 16 && file.size() == kBackupHeaderSize + uint64_t{body};
}

// A file from outside, never sealed here: a header refused before scrypt is kBadInput; past that,
// only the tag can fail (no input forges it under the fixed passphrase): kBadPassphrase.
inline void CheckFileRefused(std::span<const uint8_t> file, const Error& error) {
  CheckError(error, HeaderAccepted(file) ? ErrorCode::kBadPassphrase : ErrorCode::kBadInput);
}

// Contents sealed here (the tag verifies): text that is not JSON is kBadInput; JSON is refused for
// its shape (kBadInput) or its key material (kCorruptValue); never kBadPassphrase.
inline void CheckContentsRefused(std::span<const uint8_t> plaintext, const Error& error) {
  if (!nlohmann::json::accept(plaintext.begin(), plaintext.end())) {
    CheckError(error, ErrorCode::kBadInput);
  } else {
    CheckError(error, ErrorCode::kBadInput, ErrorCode::kCorruptValue);
  }
}

// Contents that opened seal again (they passed the same checks) and open to the same contents.
inline void CheckReopens(const BackupContents& contents) {
  Result<std::vector<uint8_t>> sealed =
      SealBackup(contents, AsBytes(kFuzzPassphrase), kCheapestCost);
  FUZZ_CHECK(sealed.ok(), "contents that opened do not seal again");
  Result<BackupContents> again = OpenBackup(*sealed, AsBytes(kFuzzPassphrase));
  FUZZ_CHECK(again.ok(), "a backup sealed from opened contents does not open");
  FUZZ_CHECK(again->keyring_id == contents.keyring_id &&
                 again->keyring_revision == contents.keyring_revision &&
                 again->created_at == contents.created_at &&
                 again->tool_version == contents.tool_version &&
                 again->root_version == contents.root_version &&
                 again->root_fingerprint == contents.root_fingerprint &&
                 SafeEquals(again->root_key, contents.root_key) &&
                 again->records == contents.records,
             "a backup does not round-trip through SealBackup and OpenBackup");
}

}  // namespace udmg::fuzz
