// The key hierarchy (docs/formats.md): root versions (K0), master versions (K1, stored as K3 = Fernet of
// K1 under K0), the active version, and the rotation rules. Pure: the records come from and go to
// db::Store, which writes them in one transaction under the keyring lock.
//
// Thread-safety: a Keyring is immutable once opened and shared as shared_ptr<const Keyring>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg {

enum class MasterKeyState { kActive, kDecryptOnly, kRetired };
std::string_view MasterKeyStateName(MasterKeyState state);  // "active", "decrypt_only", "retired"
std::optional<MasterKeyState> ParseMasterKeyState(std::string_view name);

// One row of udmg_root_keys. The current version has no wrapped_key; every older K0 is stored as
// the Fernet token of its 32 bytes under the current K0 (wrapped_by = current version).
struct RootKeyRecord {
  uint32_t version = 0;
  std::string fingerprint;
  std::optional<std::string> wrapped_key;
  std::optional<uint32_t> wrapped_by;
  int64_t created_at = 0;  // unix seconds
  bool operator==(const RootKeyRecord&) const = default;
};

// One row of udmg_master_keys. k3 = Fernet token of K1's 32 bytes under root `root_version`.
struct MasterKeyRecord {
  uint32_t version = 0;
  std::string k3;
  uint32_t root_version = 0;
  MasterKeyState state = MasterKeyState::kDecryptOnly;
  int64_t created_at = 0;
  bool operator==(const MasterKeyRecord&) const = default;
};

// The whole stored keyring. `revision` is bumped by the store on every keyring change, so a
// rotation can insist that nobody changed the keyring since it was read (exactly one of two
// concurrent rotations wins).
struct KeyringRecords {
  std::vector<RootKeyRecord> roots;      // by version, ascending
  std::vector<MasterKeyRecord> masters;  // by version, ascending
  int64_t revision = 0;
  bool operator==(const KeyringRecords&) const = default;
};

// Look-ups over the records: the one home of "which record is it". Null when there is none.
const RootKeyRecord* FindRoot(const KeyringRecords& records, uint32_t version);
const RootKeyRecord* FindRootByFingerprint(const KeyringRecords& records,
                                           std::string_view fingerprint);
// The current root is the one version stored without a wrapped key (docs/storage.md).
const RootKeyRecord* CurrentRoot(const KeyringRecords& records);
const MasterKeyRecord* FindMaster(const KeyringRecords& records, uint32_t version);
MasterKeyRecord* FindMaster(KeyringRecords& records, uint32_t version);
const MasterKeyRecord* ActiveMaster(const KeyringRecords& records);
// True when `records` holds master `version` as retired: values under it are never decrypted.
bool IsRetiredVersion(const KeyringRecords& records, uint32_t version);
// Their versions, 0 when there is none (an empty keyring).
uint32_t ActiveMasterVersion(const KeyringRecords& records);
uint32_t CurrentRootVersion(const KeyringRecords& records);

// How an unwrap failure is said: `whose` prefixes the key's name ("the backup's "), `hint`
// (": restore ... from a backup") ends the message.
struct UnwrapContext {
  std::string_view whose;
  std::string_view hint;
};
// The K0 of root `version` of `records`, whose current K0 is `current_k0`: that K0 itself for
// the current root, else the older K0 unwrapped from its row and checked against its stored
// fingerprint. kCorruptValue when the version does not exist or does not unwrap.
Result<SecretBytes> RootKeyOf(const KeyringRecords& records, std::span<const uint8_t> current_k0,
                              uint32_t version, UnwrapContext context = {});
// The K1 of `master`: its K3 unwrapped under its root's K0 (RootKeyOf). kCorruptValue otherwise.
Result<SecretBytes> UnwrapMasterKey(const KeyringRecords& records,
                                    std::span<const uint8_t> current_k0,
                                    const MasterKeyRecord& master, UnwrapContext context = {});

// Where a process's K0 stands in the root-key history, found by fingerprint.
enum class RootKeyStanding { kCurrent, kOlder, kUnknown };
struct RootKeyCheck {
  RootKeyStanding standing = RootKeyStanding::kUnknown;
  std::optional<uint32_t> version;  // the version this K0 matches, if any
  uint32_t current_version = 0;
  std::string fingerprint;          // of this process's K0
  std::string current_fingerprint;  // of the current root version (empty if there is none)
};
RootKeyCheck CheckRootKey(const KeyringRecords& records, std::span<const uint8_t> k0);
// kWrongKey, one line naming this K0's version (or "unknown", with its fingerprint), the current
// version and its fingerprint, and the fix (set UDMG_SECURITY_PASSPHRASE_KEY on this node to the
// current key and restart).
Error WrongRootKeyError(const RootKeyCheck& check);

class Keyring {
 public:
  // Checks that `k0` is the current root key (else WrongRootKeyError) and unwraps every readable
  // K3 (a K3 that does not unwrap fails with kCorruptValue naming its version).
  static Result<std::shared_ptr<const Keyring>> Open(const KeyringRecords& records,
                                                     std::span<const uint8_t> k0);

  uint32_t active_version() const { return active_version_; }
  uint32_t root_version() const { return root_version_; }
  int64_t revision() const { return records_.revision; }
  const KeyringRecords& records() const { return records_; }  // holds no plaintext key
  // K1 of a readable version (active or decrypt_only); nullptr for unknown or retired.
  const SecretBytes* MasterKey(uint32_t version) const;
  std::vector<uint32_t> readable_versions() const;

 private:
  Keyring() = default;
  KeyringRecords records_;
  uint32_t active_version_ = 0;
  uint32_t root_version_ = 0;
  std::map<uint32_t, SecretBytes> master_keys_;
};

// Rotation rules. Each returns the complete new keyring (revision unchanged: the store bumps it).

// First root version 1 for `k0`, master version 1 = `k1`, active.
KeyringRecords NewKeyringRecords(std::span<const uint8_t> k0, std::span<const uint8_t> k1,
                                 int64_t now);

// New root version for `new_k0`: every K3 and every historical K0 rewrapped under it, and
// `current_k0` stored wrapped by it. kWrongKey if `current_k0` is not current; kBadKey if `new_k0`
// is the current key or any earlier one (compared by fingerprint).
Result<KeyringRecords> RotateRootKey(const KeyringRecords& records,
                                     std::span<const uint8_t> current_k0,
                                     std::span<const uint8_t> new_k0, int64_t now);

// True when `new_k0` is already the current root key and `k0` is an earlier one: the rotate-k0 to
// `new_k0` is made and this is the same command run again on a node not yet given the new key.
bool RootRotationMade(const KeyringRecords& records, std::span<const uint8_t> k0,
                      std::span<const uint8_t> new_k0);

// `new_k1` becomes the active master version (max + 1), wrapped under `k0`; the previous active
// version becomes decrypt_only. kWrongKey if `k0` is not current.
Result<KeyringRecords> RotateMasterKey(const KeyringRecords& records, std::span<const uint8_t> k0,
                                       std::span<const uint8_t> new_k1, int64_t now);

}  // namespace udmg
