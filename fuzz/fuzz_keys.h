// The fixed keys of the harnesses (never used outside fuzz/): a K0 and three K1 versions, also
// written by fuzz/make_seeds.py, so the seed envelopes decrypt.
#pragma once

#include <cstdlib>
#include <memory>
#include <string_view>

#include "engine/encoding.h"
#include "engine/keyring.h"

namespace udmg::fuzz {

inline constexpr std::string_view kFuzzRootKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
// Master versions 1 (retired), 2 (decrypt_only) and 3 (active).
inline constexpr std::string_view kFuzzMasterKeyHex[] = {
    "1111111111111111111111111111111111111111111111111111111111111111",
    "2222222222222222222222222222222222222222222222222222222222222222",
    "3333333333333333333333333333333333333333333333333333333333333333"};

inline SecretBytes FuzzKey(std::string_view hex) { return *HexDecode(hex); }

// A keyring with every state a value may meet: 1 retired (unreadable), 2 decrypt_only, 3 active.
inline std::shared_ptr<const Keyring> FuzzKeyring() {
  const SecretBytes k0 = FuzzKey(kFuzzRootKeyHex);
  KeyringRecords records = NewKeyringRecords(k0, FuzzKey(kFuzzMasterKeyHex[0]), 0);
  records = *RotateMasterKey(records, k0, FuzzKey(kFuzzMasterKeyHex[1]), 0);
  records = *RotateMasterKey(records, k0, FuzzKey(kFuzzMasterKeyHex[2]), 0);
  records.masters[0].state = MasterKeyState::kRetired;
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
  if (!keyring.ok() || keyring->get()->active_version() != 3) std::abort();
  return *keyring;
}

}  // namespace udmg::fuzz
