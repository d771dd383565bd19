// What `passphrase-restore` and `prune-keys` do to the keyring, as pure functions: the
// store applies the result in one transaction under the keyring lock, with the value counts taken
// under that same lock. Decisions: docs/disaster-recovery.md.
//
// Restore merges; it never deletes a master version that a stored value uses, and every row it
// replaces or drops is returned in `archived` (kept in udmg_replaced_keys, recoverable).
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/backup.h"
#include "engine/keyring.h"
#include "engine/secret.h"

namespace udmg {

// Stored values per master version and column ("credentials.secret"), counted under the lock.
// Versions no value uses are absent (or 0).
using VersionUsage = std::map<uint32_t, std::map<std::string, uint64_t>>;

// A keyring row a restore replaced or dropped. `row_json` is the whole row as stored (wrapped
// material only: K3 tokens, wrapped K0 tokens; never a plaintext key).
struct ArchivedKeyRow {
  std::string kind;  // "root" or "master"
  uint32_t version = 0;
  std::string row_json;
  std::string reason;  // one line, e.g. "replaced by the backup's master version 2 (by the force option)"
};

// The setting (Error::setting) of RestoreInput::force: refusals that forcing would settle carry
// it, and the messages and plan lines name it as "the force option".
inline constexpr std::string_view kForce = "force";

struct RestoreInput {
  std::optional<KeyringRecords> current;  // nullopt: this database has no keyring yet
  std::string current_keyring_id;         // "" when there is no keyring
  // The K0 of the database's current root version, when the operator has it
  // (UDMG_SECURITY_PASSPHRASE_KEY matches it by fingerprint): the root is then kept, and what the
  // backup adds is wrapped under it. Empty otherwise.
  std::span<const uint8_t> current_k0;
  VersionUsage usage;
  bool force = false;
  int64_t now = 0;
};

struct RestorePlan {
  KeyringRecords records;                // the complete keyring to store (revision: the store's)
  std::string keyring_id;                // the database's, or the backup's on an empty database
  std::vector<ArchivedKeyRow> archived;  // rows replaced or dropped
  std::vector<std::string> changes;      // one line per change, for the operator (may name kForce)
  bool changes_nothing = true;           // the database already holds everything the file has
  // The root version and fingerprint current after the restore, and whether its K0 is the
  // backup's (then --write-key-file writes it; otherwise the operator's current K0 stays).
  uint32_t root_version = 0;
  std::string root_fingerprint;
  bool root_key_is_backups = false;
};

// The merge, decided in this order (each refusal is one line naming versions and fingerprints):
//  1. kConflict "this backup is of another database (keyring <id>, this one is <id>)".
//  2. No keyring here: the backup's keyring as it is, under its keyring id.
//  3. The database's current root is kept when its K0 is at hand (current_k0, or the backup's own
//     K0 is the current one): master versions missing here are put back wrapped under it; root
//     versions missing from the history are put back; a retired version that values still use
//     becomes decrypt_only. A master version present on both sides with a different K1, or a
//     root version with a different fingerprint, is a conflict: kConflict unless `force`; with
//     `force` the backup's row replaces it and the old row is archived.
//  4. Otherwise, when the backup's K0 is an older root version here (the newer K0 was lost): the
//     backup's root becomes current again — kConflict unless `force` (the message names the root
//     versions that would be set aside). With `force`: newer roots are archived and dropped;
//     master versions the backup holds are taken from it (old rows archived); a master version
//     the backup does not hold is archived and dropped when no value uses it, and refused
//     (kConflict naming the columns and counts, even with `force`) when values still use it.
//  5. kConflict when the backup's K0 is not in this database's root history at all.
// The active version stays the database's when it is kept; otherwise the backup's.
Result<RestorePlan> PlanRestore(const BackupContents& backup, const RestoreInput& input);

struct PrunePlan {
  KeyringRecords records;                  // the keyring with the unused versions retired
  std::vector<uint32_t> retired;           // versions retired now
  std::map<uint32_t, std::map<std::string, uint64_t>> still_used;  // refused: version → columns
};

// Retires every decrypt_only master version that no stored value uses (usage 0 on every
// registered column). The active version is never retired; already retired ones are left alone.
// `only` (non-empty) restricts pruning to those versions: one still used, active, or unknown is
// kConflict / kNotFound naming it, and nothing is retired.
Result<PrunePlan> PlanPrune(const KeyringRecords& records, const VersionUsage& usage,
                            std::span<const uint32_t> only = {});

// retire-key: the keyring with master `version` retired, so that no process decrypts under it
// any more, and what is still stored under it (`usage`, counted under the keyring lock): the
// caller refuses while values remain, or makes them unreadable when told to (--now).
struct RetirePlan {
  KeyringRecords records;  // `version` retired
  bool already_retired = false;
  uint64_t values = 0;  // stored values still under `version`
  std::string where;    // "credentials.secret: 12, t.c: 3"; "" when none
};
// kNotFound for a version `records` does not hold; kConflict for the active one (a rotation must
// make another version active first).
Result<RetirePlan> PlanRetire(const KeyringRecords& records, const VersionUsage& usage,
                              uint32_t version);

}  // namespace udmg
