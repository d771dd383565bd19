// Backup files as read by passphrase-restore (engine/backup.h OpenBackup), opened with a fixed
// passphrase. Never a crash; a refusal is on one line, with the code its damage calls for
// (kBadInput for the header, kBadPassphrase for the tag); a backup that
// opens seals again and opens to the same contents.
//
// Every file whose header names an accepted scrypt cost runs the KDF. Costs above the tests' own
// (N = 2^10, r = 8, p = 1) are skipped rather than run (up to 1 GiB and seconds each): they take
// the same code path, and the header checks before the KDF still see every other cost. The seeds
// are sealed at the cheapest cost (fuzz/make_seeds.py), so mutations stay fast.
#include "fuzz/backup_check.h"

using namespace udmg;

namespace {

constexpr size_t kLog2NOffset = 10, kROffset = 11, kPOffset = 15;

uint32_t U32At(const uint8_t* data) {
  return (uint32_t{data[0]} << 24) | (uint32_t{data[1]} << 16) | (uint32_t{data[2]} << 8) | data[3];
}

bool CostlierThanTheTests(const uint8_t* data, size_t size) {
  if (size < kBackupHeaderSize) return false;
  const uint64_t n = data[kLog2NOffset] < 64 ? uint64_t{1} << data[kLog2NOffset] : ~uint64_t{0};
  const uint64_t r = U32At(data + kROffset), p = U32At(data + kPOffset);
  const bool accepted = data[kLog2NOffset] >= 10 && data[kLog2NOffset] <= 22 && r >= 1 &&
                        r <= 32 && p >= 1 && p <= 16 && n * r * 128 <= (uint64_t{1} << 30);
  return accepted && n * r * p > (uint64_t{1} << 10) * 8;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (CostlierThanTheTests(data, size)) return 0;
  Result<BackupContents> opened = OpenBackup({data, size}, AsBytes(fuzz::kFuzzPassphrase));
  if (!opened.ok()) fuzz::CheckFileRefused({data, size}, opened.error());
  if (opened.ok()) fuzz::CheckReopens(*opened);
  return 0;
}
