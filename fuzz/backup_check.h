// Shared by the two backup harnesses: the fixed passphrase, the cheapest cost OpenBackup accepts
// (the production bounds are not changed for fuzzing), and the round trip of a backup that opens.
#pragma once

#include <vector>

#include "engine/backup.h"
#include "fuzz/fuzz_check.h"

namespace udmg::fuzz {

inline constexpr std::string_view kFuzzPassphrase = "fuzz passphrase, not a secret";
// N = 2^10, r = 1, p = 1: 128 KiB, well under a millisecond (engine/backup.h accepts no less).
inline constexpr ScryptCost kCheapestCost{10, 1, 1};

// What OpenBackup returns for any file: contents, or one of its documented refusals.
inline void CheckOpened(const Result<BackupContents>& opened) {
  if (opened.ok()) return;
  CheckError(opened.error(), ErrorCode::kBadInput, ErrorCode::kBadPassphrase,
             ErrorCode::kCorruptValue);
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
