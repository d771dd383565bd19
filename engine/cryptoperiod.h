// Cryptoperiods (docs/security.md, "Cryptoperiods"): the policy that bounds how long and how much a
// key is used, and where each key stands against it — the active master version by age and by the
// encryptions made under it (counted across every node, as the nonce budget is), the current root
// version by age. Pure: the policy, the keyring and the counts come from the store, `now` from the
// caller.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/status.h"
#include "engine/keyring.h"

namespace udmg {

// Each limit unset means "no limit".
struct KeyPolicy {
  std::optional<int64_t> master_max_age;  // seconds
  std::optional<uint64_t> master_max_encryptions;
  std::optional<int64_t> root_max_age;  // seconds
  bool operator==(const KeyPolicy&) const = default;
};

// The policy as stored (udmg_policy, docs/storage.md): one (name, value) row per limit that is set.
using PolicyRows = std::map<std::string, int64_t>;
PolicyRows PolicyToRows(const KeyPolicy& policy);
// kCorruptValue naming the row for an unknown name or a value ValidatePolicy refuses.
Result<KeyPolicy> PolicyFromRows(const PolicyRows& rows);
// The limits of the rows PolicyFromRows accepts one by one, the others left out: what a policy
// change starts from, so that `policy set` repairs a corrupt policy.
KeyPolicy ValidLimitsOf(const PolicyRows& rows);
// kBadInput naming the limit: an age must be 1 second to 10 years, a number of encryptions 1 to
// 2^32 (past that, random GCM nonces are no longer safe whatever the policy says).
Status ValidatePolicy(const KeyPolicy& policy);

// A limit's duration as `policy set` accepts it back: "90d", "1d12h", "45m", "30s".
std::string PolicyDurationText(int64_t seconds);
// "master key: maximum age 90d, maximum encryptions 1000000; root key: maximum age no limit"
std::string PolicyText(const KeyPolicy& policy);

// Where one key stands against the policy at `now`.
struct KeyDue {
  uint32_t version = 0;
  int64_t age = 0;                      // seconds since the version was created (0 if in future)
  std::optional<uint64_t> encryptions;  // master versions only
  std::optional<int64_t> max_age;       // the policy's limits that apply to this key
  std::optional<uint64_t> max_encryptions;
  bool due = false;  // a limit is reached: rotate
  std::string why;   // one clause: "master key version 3 is 95 days old (maximum 90d)"
};

// The active master version; nullopt for an empty keyring. `encryptions` per master version.
std::optional<KeyDue> MasterKeyDue(const KeyPolicy& policy, const KeyringRecords& records,
                                   const std::map<uint32_t, uint64_t>& encryptions, int64_t now);
// The current root version; nullopt for an empty keyring.
std::optional<KeyDue> RootKeyDue(const KeyPolicy& policy, const KeyringRecords& records,
                                 int64_t now);

}  // namespace udmg
