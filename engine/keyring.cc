#include "engine/keyring.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <set>

#include "engine/fernet.h"
#include "engine/root_key.h"

namespace udmg {

// ---- Look-ups ----------------------------------------------------------------------------------

namespace {
template <typename Record, typename Records, typename Match>
Record* FindFirst(Records& records, Match match) {
  for (Record& record : records) {
    if (match(record)) return &record;
  }
  return nullptr;
}
}  // namespace

const RootKeyRecord* FindRoot(const KeyringRecords& records, uint32_t version) {
  return FindFirst<const RootKeyRecord>(
      records.roots, [&](const RootKeyRecord& root) { return root.version == version; });
}

const RootKeyRecord* FindRootByFingerprint(const KeyringRecords& records,
                                           std::string_view fingerprint) {
  return FindFirst<const RootKeyRecord>(
      records.roots, [&](const RootKeyRecord& root) { return root.fingerprint == fingerprint; });
}

const RootKeyRecord* CurrentRoot(const KeyringRecords& records) {
  return FindFirst<const RootKeyRecord>(
      records.roots, [](const RootKeyRecord& root) { return !root.wrapped_key; });
}

const MasterKeyRecord* FindMaster(const KeyringRecords& records, uint32_t version) {
  return FindFirst<const MasterKeyRecord>(
      records.masters, [&](const MasterKeyRecord& master) { return master.version == version; });
}

MasterKeyRecord* FindMaster(KeyringRecords& records, uint32_t version) {
  return FindFirst<MasterKeyRecord>(
      records.masters, [&](const MasterKeyRecord& master) { return master.version == version; });
}

bool IsRetiredVersion(const KeyringRecords& records, uint32_t version) {
  const MasterKeyRecord* master = FindMaster(records, version);
  return master != nullptr && master->state == MasterKeyState::kRetired;
}

const MasterKeyRecord* ActiveMaster(const KeyringRecords& records) {
  return FindFirst<const MasterKeyRecord>(records.masters, [](const MasterKeyRecord& master) {
    return master.state == MasterKeyState::kActive;
  });
}

uint32_t ActiveMasterVersion(const KeyringRecords& records) {
  const MasterKeyRecord* active = ActiveMaster(records);
  return active == nullptr ? 0 : active->version;
}

uint32_t CurrentRootVersion(const KeyringRecords& records) {
  const RootKeyRecord* current = CurrentRoot(records);
  return current == nullptr ? 0 : current->version;
}

Result<SecretBytes> RootKeyOf(const KeyringRecords& records, std::span<const uint8_t> current_k0,
                              uint32_t version, UnwrapContext context) {
  const std::string what = std::string(context.whose) + "root key version " +
                           std::to_string(version);
  const RootKeyRecord* root = FindRoot(records, version);
  if (root == nullptr) {
    return Error{ErrorCode::kCorruptValue, what + " does not exist" + std::string(context.hint)};
  }
  if (!root->wrapped_key) return SecretBytes(current_k0.begin(), current_k0.end());
  Result<Fernet> current = Fernet::Create(current_k0);
  Result<SecretBytes> k0 = current.ok() ? current->Decrypt(*root->wrapped_key) : current.error();
  if (!k0.ok() || k0->size() != kKeySize || RootKeyFingerprint(*k0) != root->fingerprint) {
    return Error{ErrorCode::kCorruptValue, what + " (fingerprint " + root->fingerprint +
                                               ") does not unwrap under the current root key" +
                                               std::string(context.hint)};
  }
  return k0;
}

Result<SecretBytes> UnwrapMasterKey(const KeyringRecords& records,
                                    std::span<const uint8_t> current_k0,
                                    const MasterKeyRecord& master, UnwrapContext context) {
  UDMG_ASSIGN_OR_RETURN(const SecretBytes k0,
                        RootKeyOf(records, current_k0, master.root_version, context));
  Result<Fernet> fernet = Fernet::Create(k0);
  Result<SecretBytes> k1 = fernet.ok() ? fernet->Decrypt(master.k3) : fernet.error();
  if (!k1.ok() || k1->size() != kKeySize) {
    return Error{ErrorCode::kCorruptValue,
                 std::string(context.whose) + "master key version " +
                     std::to_string(master.version) + " (K3) does not unwrap under root key version " +
                     std::to_string(master.root_version) + std::string(context.hint)};
  }
  return k1;
}

namespace {

constexpr std::string_view kRestoreHint =
    ": restore the udmg_root_keys and udmg_master_keys tables from a backup";
// Keys unwrapped from the stored keyring: a failure is fixed from a backup.
constexpr UnwrapContext kStoredKeyring{.whose = "", .hint = kRestoreHint};

Error Inconsistent(const std::string& what) {
  return Error{ErrorCode::kCorruptValue,
               "the stored keyring is inconsistent (" + what + ")" + std::string(kRestoreHint)};
}

Status ValidateRoots(const KeyringRecords& records) {
  if (records.roots.empty()) {
    return Error{ErrorCode::kNotInitialized,
                 "this database has no root key: run `udmg-server init` first"};
  }
  std::set<uint32_t> versions;
  std::set<std::string> fingerprints;
  size_t unwrapped = 0;
  uint32_t max_version = 0;
  for (const RootKeyRecord& root : records.roots) {
    if (root.version == 0 || !versions.insert(root.version).second) {
      return Inconsistent("root key version " + std::to_string(root.version) +
                          " is zero or repeated");
    }
    if (!fingerprints.insert(root.fingerprint).second) {
      return Inconsistent("two root key versions share fingerprint " + root.fingerprint);
    }
    if (!root.wrapped_key) ++unwrapped;
    max_version = std::max(max_version, root.version);
  }
  if (unwrapped != 1) {
    return Inconsistent(std::to_string(unwrapped) +
                        " root key versions are marked current (no wrapped key); expected one");
  }
  const RootKeyRecord& current = *CurrentRoot(records);
  if (current.version != max_version) {
    return Inconsistent("the current root key version " + std::to_string(current.version) +
                        " is not the newest (" + std::to_string(max_version) + ")");
  }
  for (const RootKeyRecord& root : records.roots) {
    if (root.wrapped_key && root.wrapped_by != current.version) {
      return Inconsistent("historical root key version " + std::to_string(root.version) +
                          " is not wrapped by the current version " +
                          std::to_string(current.version));
    }
  }
  return Status::Ok();
}

Status ValidateMasters(const KeyringRecords& records) {
  std::set<uint32_t> versions;
  size_t active = 0;
  for (const MasterKeyRecord& master : records.masters) {
    if (master.version == 0 || !versions.insert(master.version).second) {
      return Inconsistent("master key version " + std::to_string(master.version) +
                          " is zero or repeated");
    }
    if (FindRoot(records, master.root_version) == nullptr) {
      return Inconsistent("master key version " + std::to_string(master.version) +
                          " names root key version " + std::to_string(master.root_version) +
                          ", which does not exist");
    }
    if (master.state == MasterKeyState::kActive) ++active;
  }
  if (active != 1) {
    return Inconsistent(std::to_string(active) + " master key versions are active; expected one");
  }
  return Status::Ok();
}

Status ValidateRecords(const KeyringRecords& records) {
  UDMG_RETURN_IF_ERROR(ValidateRoots(records));
  return ValidateMasters(records);
}

Result<Fernet> FernetFor(std::span<const uint8_t> key) {
  Result<Fernet> fernet = Fernet::Create(key);
  if (!fernet.ok()) {
    return Error{ErrorCode::kBadKey, "a root key must be 32 bytes; got " +
                                         std::to_string(key.size())};
  }
  return fernet;
}

// Validates the records and insists that `k0` is the current root key.
Status CheckCurrent(const KeyringRecords& records, std::span<const uint8_t> k0) {
  UDMG_RETURN_IF_ERROR(ValidateRecords(records));
  const RootKeyCheck check = CheckRootKey(records, k0);
  if (check.standing != RootKeyStanding::kCurrent) return WrongRootKeyError(check);
  return Status::Ok();
}

template <typename Record>
uint32_t MaxVersion(const std::vector<Record>& records) {
  uint32_t max_version = 0;
  for (const Record& record : records) max_version = std::max(max_version, record.version);
  return max_version;
}

template <typename Record>
void SortByVersion(std::vector<Record>& records) {
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.version < b.version; });
}

}  // namespace

std::string_view MasterKeyStateName(MasterKeyState state) {
  switch (state) {
    case MasterKeyState::kActive: return "active";
    case MasterKeyState::kDecryptOnly: return "decrypt_only";
    case MasterKeyState::kRetired: return "retired";
  }
  return "unknown";
}

std::optional<MasterKeyState> ParseMasterKeyState(std::string_view name) {
  for (MasterKeyState state :
       {MasterKeyState::kActive, MasterKeyState::kDecryptOnly, MasterKeyState::kRetired}) {
    if (name == MasterKeyStateName(state)) return state;
  }
  return std::nullopt;
}

RootKeyCheck CheckRootKey(const KeyringRecords& records, std::span<const uint8_t> k0) {
  RootKeyCheck check;
  check.fingerprint = RootKeyFingerprint(k0);
  if (const RootKeyRecord* current = CurrentRoot(records)) {
    check.current_version = current->version;
    check.current_fingerprint = current->fingerprint;
  }
  for (const RootKeyRecord& root : records.roots) {
    if (root.fingerprint == check.fingerprint) {  // fingerprints are public: no need for SafeEquals
      check.version = root.version;
      check.standing = root.version == check.current_version ? RootKeyStanding::kCurrent
                                                             : RootKeyStanding::kOlder;
    }
  }
  return check;
}

Error WrongRootKeyError(const RootKeyCheck& check) {
  const std::string env(kRootKeyEnv);
  const std::string current = "the current version is " + std::to_string(check.current_version) +
                              " (fingerprint " + check.current_fingerprint + ")";
  const std::string fix = ": set " + env + " on this node to the current key and restart";
  switch (check.standing) {
    case RootKeyStanding::kOlder:
      return Error{ErrorCode::kWrongKey,
                   "this node's " + env + " is root key version " +
                       std::to_string(check.version.value_or(0)) + " (fingerprint " +
                       check.fingerprint + "), but " + current + fix};
    case RootKeyStanding::kUnknown:
      return Error{ErrorCode::kWrongKey, "this node's " + env +
                                             " is an unknown root key: it matches no root key "
                                             "version of this database (fingerprint " +
                                             check.fingerprint + "); " + current + fix};
    case RootKeyStanding::kCurrent:
      break;
  }
  return Error{ErrorCode::kInternal,
               "internal error: the root key was reported wrong although it is current; please "
               "report this bug"};
}

Result<std::shared_ptr<const Keyring>> Keyring::Open(const KeyringRecords& records,
                                                     std::span<const uint8_t> k0) {
  UDMG_RETURN_IF_ERROR(CheckCurrent(records, k0));
  std::shared_ptr<Keyring> keyring(new Keyring());
  keyring->records_ = records;
  keyring->root_version_ = CurrentRoot(records)->version;
  for (const MasterKeyRecord& master : records.masters) {
    if (master.state == MasterKeyState::kActive) keyring->active_version_ = master.version;
    if (master.state == MasterKeyState::kRetired) continue;  // not readable: not unwrapped
    UDMG_ASSIGN_OR_RETURN(SecretBytes k1, UnwrapMasterKey(records, k0, master, kStoredKeyring));
    keyring->master_keys_.emplace(master.version, std::move(k1));
  }
  return std::shared_ptr<const Keyring>(std::move(keyring));
}

const SecretBytes* Keyring::MasterKey(uint32_t version) const {
  const auto it = master_keys_.find(version);
  return it == master_keys_.end() ? nullptr : &it->second;
}

std::vector<uint32_t> Keyring::readable_versions() const {
  std::vector<uint32_t> versions;
  versions.reserve(master_keys_.size());
  for (const auto& [version, key] : master_keys_) versions.push_back(version);
  return versions;
}

KeyringRecords NewKeyringRecords(std::span<const uint8_t> k0, std::span<const uint8_t> k1,
                                 int64_t now) {
  Result<Fernet> fernet = Fernet::Create(k0);
  if (!fernet.ok() || k1.size() != kKeySize) std::abort();  // precondition: 32-byte keys
  KeyringRecords records;
  records.roots.push_back(RootKeyRecord{1, RootKeyFingerprint(k0), std::nullopt, std::nullopt, now});
  records.masters.push_back(MasterKeyRecord{1, fernet->Encrypt(k1), 1, MasterKeyState::kActive, now});
  return records;
}

bool RootRotationMade(const KeyringRecords& records, std::span<const uint8_t> k0,
                      std::span<const uint8_t> new_k0) {
  return CheckRootKey(records, new_k0).standing == RootKeyStanding::kCurrent &&
         CheckRootKey(records, k0).standing == RootKeyStanding::kOlder;
}

Result<KeyringRecords> RotateRootKey(const KeyringRecords& records,
                                     std::span<const uint8_t> current_k0,
                                     std::span<const uint8_t> new_k0, int64_t now) {
  UDMG_RETURN_IF_ERROR(CheckCurrent(records, current_k0));
  if (new_k0.size() != kKeySize) {
    return Error{ErrorCode::kBadKey, "the new root key must be 32 bytes; got " +
                                         std::to_string(new_k0.size())};
  }
  const RootKeyCheck reuse = CheckRootKey(records, new_k0);
  if (reuse.version) {
    const std::string which = reuse.standing == RootKeyStanding::kCurrent
                                  ? "is the current root key (version "
                                  : "was already used as root key version ";
    return Error{ErrorCode::kBadKey, "the new root key " + which +
                                         std::to_string(*reuse.version) +
                                         (reuse.standing == RootKeyStanding::kCurrent ? ")" : "") +
                                         ": a root key may not be reused; generate a fresh one "
                                         "with `openssl rand -hex 32`"};
  }
  const uint32_t current_version = CurrentRoot(records)->version;
  if (current_version == std::numeric_limits<uint32_t>::max()) {
    return Error{ErrorCode::kInternal, "root key versions are exhausted"};
  }
  const uint32_t new_version = current_version + 1;
  UDMG_ASSIGN_OR_RETURN(const Fernet wrapper, FernetFor(new_k0));

  KeyringRecords rotated = records;
  for (RootKeyRecord& root : rotated.roots) {
    // The current K0 and every historical one end up wrapped by the new K0.
    UDMG_ASSIGN_OR_RETURN(const SecretBytes old_k0, RootKeyOf(records, current_k0, root.version, kStoredKeyring));
    root.wrapped_key = wrapper.Encrypt(old_k0);
    root.wrapped_by = new_version;
  }
  rotated.roots.push_back(
      RootKeyRecord{new_version, RootKeyFingerprint(new_k0), std::nullopt, std::nullopt, now});
  for (MasterKeyRecord& master : rotated.masters) {
    UDMG_ASSIGN_OR_RETURN(const SecretBytes k1, UnwrapMasterKey(records, current_k0, master, kStoredKeyring));
    master.k3 = wrapper.Encrypt(k1);
    master.root_version = new_version;
  }
  SortByVersion(rotated.roots);
  SortByVersion(rotated.masters);
  return rotated;
}

Result<KeyringRecords> RotateMasterKey(const KeyringRecords& records, std::span<const uint8_t> k0,
                                       std::span<const uint8_t> new_k1, int64_t now) {
  UDMG_RETURN_IF_ERROR(CheckCurrent(records, k0));
  if (new_k1.size() != kKeySize) {
    return Error{ErrorCode::kBadKey, "the new master key must be 32 bytes; got " +
                                         std::to_string(new_k1.size())};
  }
  for (const MasterKeyRecord& master : records.masters) {
    UDMG_ASSIGN_OR_RETURN(const SecretBytes k1, UnwrapMasterKey(records, k0, master, kStoredKeyring));
    if (SafeEquals(k1, new_k1)) {
      return Error{ErrorCode::kBadKey, "the new master key equals master key version " +
                                           std::to_string(master.version) +
                                           ": a master key may not be reused; use a fresh random key"};
    }
  }
  const uint32_t max_version = MaxVersion(records.masters);
  if (max_version == std::numeric_limits<uint32_t>::max()) {
    return Error{ErrorCode::kInternal, "master key versions are exhausted"};
  }
  UDMG_ASSIGN_OR_RETURN(const Fernet wrapper, FernetFor(k0));
  KeyringRecords rotated = records;
  for (MasterKeyRecord& master : rotated.masters) {
    if (master.state == MasterKeyState::kActive) master.state = MasterKeyState::kDecryptOnly;
  }
  rotated.masters.push_back(MasterKeyRecord{max_version + 1, wrapper.Encrypt(new_k1),
                                            CurrentRoot(records)->version, MasterKeyState::kActive,
                                            now});
  SortByVersion(rotated.masters);
  return rotated;
}

}  // namespace udmg
