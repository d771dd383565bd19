// The audit trail's chain: each entry's MAC covers its fields and the previous entry's MAC, keyed
// by a key derived from the K0 of the root version that appended it (docs/formats.md, "Audit
// chain"). Pure computation: the store reads and appends the rows.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/secret.h"

namespace udmg {

inline constexpr size_t kAuditMacSize = 32;
using AuditMac = std::array<uint8_t, kAuditMacSize>;

// One entry of the trail. Versions are 0 where there is none (before `init`, say).
struct AuditEntry {
  int64_t seq = 0;  // 1, 2, … in append order, without gaps
  int64_t at = 0;   // the database's time, unix seconds
  std::string node;
  std::string os_user;
  int64_t pid = 0;
  std::string command;  // "rotate-master-key", "reencrypt", …
  std::string event;    // what was recorded: "keyring", "job-start", …
  std::string outcome;  // "ok", "failed" (a job), "refused: …" or "unsealed: …" (see below)
  std::string detail;   // what the event was about beyond the versions ("retired master 2"), or ""
  uint32_t root_before = 0;
  uint32_t root_after = 0;
  uint32_t master_before = 0;
  uint32_t master_after = 0;
  std::string k0_fingerprint;  // of the appending process's K0; "" when it had none
  uint32_t key_version = 0;    // the root version whose K0 keyed `mac`; 0: unkeyed (refusals)
  AuditMac mac{};
};

// HMAC-SHA256(key = K0, message = "udmg-audit-key"): the MAC key of one root version. Neither
// K0 nor anything that reveals it is stored with the entries.
SecretBytes DeriveAuditKey(std::span<const uint8_t> k0);

// The bytes the MAC covers: the entry's fields in a fixed order, each length-prefixed, then the
// previous entry's MAC (all zeros before the first entry). Its own `mac` is not part of it.
std::string AuditMessage(const AuditEntry& entry, const AuditMac& previous);

// The entry's MAC: HMAC-SHA256 under `key` when the entry is keyed (key_version != 0), SHA-256
// of the message when it is not (a process without the right K0 records its refusal; the next
// keyed entry covers it).
AuditMac SealAuditEntry(const AuditEntry& entry, const AuditMac& previous,
                        std::span<const uint8_t> key);

// The detail of an entry that retired master versions: "retired master version 1", "retired
// master versions 1, 2". RetiredVersionsOf reads it back (empty for any other detail).
std::string RetiredVersionsDetail(std::span<const uint32_t> versions);
std::vector<uint32_t> RetiredVersionsOf(const AuditEntry& entry);

// An unkeyed entry may only record a refusal ("refused: " and why) or what a process without the
// current K0 did and could not seal ("unsealed: " and why: a job marked stopped by an operator
// without K0, or ended after its K0 was rotated away); an edit that strips the key from any other
// entry is a break.
bool IsRefusal(const AuditEntry& entry);
bool MayBeUnsealed(const AuditEntry& entry);
inline constexpr std::string_view kUnsealedPrefix = "unsealed: ";

// An entry's place in the chain, as a copy kept outside the database records it: "SEQ:MAC" with
// the MAC in 64 lowercase hex digits.
struct AuditHead {
  int64_t seq = 0;
  AuditMac mac{};
  bool operator==(const AuditHead&) const = default;
};
std::string AuditHeadText(const AuditHead& head);
std::optional<AuditHead> ParseAuditHead(std::string_view text);  // nullopt unless well formed

// What `audit verify` found. `first_break` is the first entry that does not verify (its seq)
// with why; entries after it are not judged. `unsealed` counts the unkeyed entries after the
// last keyed one: nothing covers them yet, so they are reported, not trusted.
struct AuditVerdict {
  uint64_t checked = 0;
  uint64_t unsealed = 0;
  std::optional<int64_t> first_break;
  std::string why;
  AuditHead head;  // the last entry's, to keep outside the database
  // An expected head (a copy of an earlier head) that the chain no longer holds: entries were
  // removed from its end (with the chain intact, nothing else shows that).
  bool expected_head_missing = false;
};

// The audit key of a root version, nullopt when the keyring no longer holds that version.
using AuditKeyLookup = std::function<std::optional<SecretBytes>(uint32_t root_version)>;

// What the chain is checked against besides itself.
struct AuditExpectations {
  uint32_t current_root = 0;      // the keyring's current root version (0: not checked)
  std::optional<AuditHead> head;  // a head kept from an earlier verification
};

// Checks `entries` in seq order from the first: consecutive seqs starting at 1, each MAC over
// the previous one, keyed entries under their version's key, unkeyed ones only refusals. A keyed
// entry must be sealed by the root version current before or after it, and say that the version
// the previous keyed entry left current was current before it: a retired K0 that leaked cannot
// seal new entries. Then the last keyed entry must leave `current_root` current (a keyring
// change missing from the trail), and the chain must still hold `head`.
AuditVerdict VerifyAuditChain(std::span<const AuditEntry> entries, const AuditKeyLookup& key_of,
                              const AuditExpectations& expectations = {});

}  // namespace udmg
