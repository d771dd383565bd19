// What is inside a backup file: the fuzz input is the plaintext (JSON contents), sealed here with
// the fixed passphrase at the cheapest cost exactly as engine/backup.h lays the file out, so the
// GCM tag verifies and OpenBackup reaches the contents parser (root_key masking, JSON fields,
// key-material checks) that a mutated file never reaches. Never a crash; a refusal is one of the
// documented codes on one line; contents that open seal again and open to the same contents.
#include <openssl/evp.h>

#include <array>

#include "engine/aead.h"
#include "fuzz/backup_check.h"

using namespace udmg;

namespace {

constexpr std::array<uint8_t, 16> kSalt{'f', 'u', 'z', 'z', ' ', 's', 'a', 'l',
                                        't', ' ', '1', '2', '3', '4', '5', '6'};
constexpr std::array<uint8_t, kGcmNonceSize> kNonce{'f', 'u', 'z', 'z', ' ', 'n',
                                                    'o', 'n', 'c', 'e', '!', '!'};

void PutU32(uint32_t value, std::vector<uint8_t>& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

AesGcm& SealingCipher() {
  static AesGcm* aead = [] {
    SecretBytes key(32);
    const uint64_t n = uint64_t{1} << fuzz::kCheapestCost.log2_n;
    if (EVP_PBE_scrypt(fuzz::kFuzzPassphrase.data(), fuzz::kFuzzPassphrase.size(), kSalt.data(),
                       kSalt.size(), n, fuzz::kCheapestCost.r, fuzz::kCheapestCost.p, 0,
                       key.data(), key.size()) != 1) {
      std::abort();
    }
    return AesGcm::Create(key)->release();
  }();
  return *aead;
}

// magic | format 1 | kdf 1 (scrypt) | log2_n | r | p | salt | nonce | body length, then the body.
std::vector<uint8_t> Seal(std::span<const uint8_t> plaintext) {
  std::vector<uint8_t> file(kBackupMagic.begin(), kBackupMagic.end());
  file.push_back(kBackupFormat);
  file.push_back(1);
  file.push_back(fuzz::kCheapestCost.log2_n);
  PutU32(fuzz::kCheapestCost.r, file);
  PutU32(fuzz::kCheapestCost.p, file);
  file.insert(file.end(), kSalt.begin(), kSalt.end());
  file.insert(file.end(), kNonce.begin(), kNonce.end());
  PutU32(static_cast<uint32_t>(plaintext.size() + kGcmTagSize), file);
  const std::vector<uint8_t> header = file;
  if (!SealingCipher().Seal(kNonce, header, plaintext, file).ok()) std::abort();
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file = Seal({data, size});
  Result<BackupContents> opened = OpenBackup(file, AsBytes(fuzz::kFuzzPassphrase));
  if (!opened.ok()) fuzz::CheckContentsRefused({data, size}, opened.error());
  if (opened.ok()) fuzz::CheckReopens(*opened);
  return 0;
}
