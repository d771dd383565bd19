// Backup files of the key material: what recovery needs, sealed under a passphrase with
// scrypt (OpenSSL 3 EVP_KDF) and AES-256-GCM. Pure: bytes in, bytes out; cli/ reads and writes
// the file. Format (normative, docs/formats.md "Backup file"):
//
//   header  = "UDMGBKUP" (8 bytes) | format u8 = 1 | kdf u8 = 1 (scrypt) | log2_n u8 | r u32 BE
//             | p u32 BE | salt (16) | nonce (12) | ciphertext_length u32 BE       (51 bytes)
//   body    = AES-256-GCM(key = scrypt(passphrase, salt, N = 2^log2_n, r, p, 32 bytes),
//                         nonce, aad = header, plaintext = JSON contents) = ciphertext ‖ tag(16)
//   ciphertext_length counts the whole body, tag included: file size = 51 + ciphertext_length.
//
// The header is authenticated (AAD), so every bit of the file is covered; its length field tells a
// truncated file from a damaged one before the KDF runs.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/keyring.h"
#include "engine/secret.h"

namespace udmg {

inline constexpr std::string_view kBackupMagic = "UDMGBKUP";
inline constexpr uint8_t kBackupFormat = 1;
inline constexpr size_t kBackupHeaderSize = 51;  // 8 + 1 + 1 + 1 + 4 + 4 + 16 + 12 + 4
// Passphrases shorter than this are refused when sealing (kBadInput); opening accepts any.
inline constexpr size_t kMinBackupPassphraseLength = 12;

// scrypt cost. Sealing uses the default (N = 2^17, r = 8, p = 1: 128 MiB, about 0.8 s measured on
// the 2-core dev box under load); tests may pass a cheaper one. Opening accepts 10 <= log2_n <= 22,
// 1 <= r <= 32, 1 <= p <= 16 and N·r·128 ≤ 1 GiB; anything else is kBadInput before any memory
// is spent.
struct ScryptCost {
  uint8_t log2_n = 17;
  uint32_t r = 8;
  uint32_t p = 1;
};

// What a backup holds. `root_key` is the K0 of `root_version` (the current root when the backup
// was taken); every record is as the database had it (K3s wrapped under that K0, older K0s
// wrapped by it).
struct BackupContents {
  std::string keyring_id;          // udmg_meta.keyring_id: which database this came from
  int64_t keyring_revision = 0;
  int64_t created_at = 0;          // unix seconds
  std::string tool_version;        // udmg-server version that wrote it (informative)
  uint32_t root_version = 0;
  std::string root_fingerprint;    // RootKeyFingerprint(root_key)
  SecretBytes root_key;            // 32 bytes
  KeyringRecords records;          // roots and masters as stored (revision = keyring_revision)
};

// The plaintext is JSON built and parsed without leaving K0's hex in unwiped buffers: it is
// written into a wiped buffer around the nlohmann_json dump of the other fields, and on open it
// is decoded and masked in the wiped plaintext before nlohmann_json parses the rest.
// kBadInput: a passphrase shorter than kMinBackupPassphraseLength, a root_key that is not 32
// bytes or whose fingerprint differs from root_fingerprint, records without root_version, a cost
// OpenBackup would refuse. kCorruptValue: key material OpenBackup would refuse (a K3 or an older
// K0 that does not unwrap under root_key): a backup that could not restore is never written.
Result<std::vector<uint8_t>> SealBackup(const BackupContents& contents,
                                        std::span<const uint8_t> passphrase,
                                        const ScryptCost& cost = ScryptCost{});

// Checks, in this order, before returning anything:
//  - kBadInput "not a udmg-server backup file" (magic), "backup format N is not supported",
//    "backup key derivation N is not supported" (kdf byte), out-of-bounds scrypt cost,
//    "truncated: X of Y bytes" / "Z bytes after the end";
//  - kBadPassphrase "the backup does not open with this passphrase (or the file was altered)"
//    when the GCM tag fails — the same words whatever bit was wrong;
//  - kBadInput for JSON that does not parse or misses a field (cannot happen without the key:
//    a bug or a hand-made file), and kCorruptValue when root_key's fingerprint differs from
//    root_fingerprint or a K3 does not unwrap under root_key.
Result<BackupContents> OpenBackup(std::span<const uint8_t> file,
                                  std::span<const uint8_t> passphrase);

}  // namespace udmg
