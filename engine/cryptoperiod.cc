#include "engine/cryptoperiod.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace udmg {
namespace {

constexpr std::string_view kMasterMaxAge = "master_max_age_seconds";
constexpr std::string_view kMasterMaxEncryptions = "master_max_encryptions";
constexpr std::string_view kRootMaxAge = "root_max_age_seconds";

constexpr int64_t kDay = 86400;
constexpr int64_t kMaxAge = int64_t{10} * 365 * kDay;
// The bound of random 96-bit GCM nonces on one key (docs/formats.md, NIST SP 800-38D).
constexpr uint64_t kMaxEncryptions = uint64_t{1} << 32;

std::string Counted(int64_t count, std::string_view unit) {
  return std::to_string(count) + " " + std::string(unit) + (count == 1 ? "" : "s");
}

// How old a key is, rounded down to its largest unit: "95 days", "3 hours", "1 second".
std::string AgeText(int64_t seconds) {
  if (seconds >= kDay) return Counted(seconds / kDay, "day");
  if (seconds >= 3600) return Counted(seconds / 3600, "hour");
  if (seconds >= 60) return Counted(seconds / 60, "minute");
  return Counted(seconds, "second");
}

KeyDue Assess(std::string name, uint32_t version, int64_t created_at, int64_t now,
              std::optional<int64_t> max_age, std::optional<uint64_t> encryptions,
              std::optional<uint64_t> max_encryptions) {
  KeyDue due{version, std::max<int64_t>(0, now - created_at), encryptions, max_age,
             max_encryptions};
  const bool old = max_age && due.age >= *max_age;
  const bool used = max_encryptions && encryptions && *encryptions >= *max_encryptions;
  due.due = old || used;
  std::string age = "is " + AgeText(due.age) + " old";
  if (max_age) {
    age += (old ? ", past its maximum age of " : " (maximum ") + PolicyDurationText(*max_age) +
           (old ? "" : ")");
  }
  std::string use;
  if (encryptions) {
    use = "has made " + std::to_string(*encryptions) + " encryptions";
    if (max_encryptions) {
      use += (used ? ", at or past its maximum of " : " (maximum ") +
             std::to_string(*max_encryptions) + (used ? "" : ")");
    }
  }
  due.why = name + " " + (use.empty() ? age : age + " and " + use);
  if (!max_age && !max_encryptions) {
    due.why += ": no limit is set for it (`udmg-server policy set`)";
  } else if (!due.due) {
    due.why += ": within the policy";
  }
  return due;
}

}  // namespace

PolicyRows PolicyToRows(const KeyPolicy& policy) {
  PolicyRows rows;
  if (policy.master_max_age) rows[std::string(kMasterMaxAge)] = *policy.master_max_age;
  if (policy.master_max_encryptions) {
    rows[std::string(kMasterMaxEncryptions)] = static_cast<int64_t>(*policy.master_max_encryptions);
  }
  if (policy.root_max_age) rows[std::string(kRootMaxAge)] = *policy.root_max_age;
  return rows;
}

Result<KeyPolicy> PolicyFromRows(const PolicyRows& rows) {
  KeyPolicy policy;
  for (const auto& [name, value] : rows) {
    if (name == kMasterMaxAge) {
      policy.master_max_age = value;
    } else if (name == kRootMaxAge) {
      policy.root_max_age = value;
    } else if (name == kMasterMaxEncryptions) {
      policy.master_max_encryptions = static_cast<uint64_t>(std::max<int64_t>(value, 0));
    } else {
      return Error{ErrorCode::kCorruptValue,
                   "udmg_policy row `" + name + "` = " + std::to_string(value) +
                       " is not a policy limit: `udmg-server policy set` stores the policy again "
                       "without it"};
    }
  }
  if (Status valid = ValidatePolicy(policy); !valid.ok()) {
    return Error{ErrorCode::kCorruptValue,
                 "udmg_policy holds an invalid limit: " + valid.error().message +
                     ": `udmg-server policy set` stores it again"};
  }
  return policy;
}

KeyPolicy ValidLimitsOf(const PolicyRows& rows) {
  PolicyRows valid;
  for (const auto& row : rows) {
    if (PolicyFromRows(PolicyRows{row}).ok()) valid.insert(row);
  }
  return PolicyFromRows(valid).value();
}

Status ValidatePolicy(const KeyPolicy& policy) {
  const std::array<std::pair<std::string_view, std::optional<int64_t>>, 2> ages = {
      {{"the master key's maximum age", policy.master_max_age},
       {"the root key's maximum age", policy.root_max_age}}};
  for (const auto& [what, age] : ages) {
    if (age && (*age < 1 || *age > kMaxAge)) {
      return Error{ErrorCode::kBadInput,
                   std::string(what) + " must be from 1 second to 10 years (3650d)"};
    }
  }
  if (policy.master_max_encryptions &&
      (*policy.master_max_encryptions < 1 || *policy.master_max_encryptions > kMaxEncryptions)) {
    return Error{ErrorCode::kBadInput,
                 "the master key's maximum number of encryptions must be from 1 to 4294967296 "
                 "(2^32, the bound of random GCM nonces)"};
  }
  return Status::Ok();
}

std::string PolicyDurationText(int64_t seconds) {
  static constexpr std::array<std::pair<int64_t, char>, 4> kUnits = {
      {{kDay, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}};
  if (seconds <= 0) return "0s";
  std::string text;
  for (const auto& [scale, unit] : kUnits) {
    if (seconds >= scale) {
      text += std::to_string(seconds / scale) + unit;
      seconds %= scale;
    }
  }
  return text;
}

std::string PolicyText(const KeyPolicy& policy) {
  auto limit = [](const auto& value, auto text) { return value ? text(*value) : "no limit"; };
  auto count = [](uint64_t n) { return std::to_string(n); };
  return "master key: maximum age " + limit(policy.master_max_age, PolicyDurationText) +
         ", maximum encryptions " + limit(policy.master_max_encryptions, count) +
         "; root key: maximum age " + limit(policy.root_max_age, PolicyDurationText);
}

std::optional<KeyDue> MasterKeyDue(const KeyPolicy& policy, const KeyringRecords& records,
                                   const std::map<uint32_t, uint64_t>& encryptions, int64_t now) {
  const MasterKeyRecord* active = ActiveMaster(records);
  if (active == nullptr) return std::nullopt;
  auto made = encryptions.find(active->version);
  return Assess("master key version " + std::to_string(active->version), active->version,
                active->created_at, now, policy.master_max_age,
                made == encryptions.end() ? 0 : made->second, policy.master_max_encryptions);
}

std::optional<KeyDue> RootKeyDue(const KeyPolicy& policy, const KeyringRecords& records,
                                 int64_t now) {
  const RootKeyRecord* current = CurrentRoot(records);
  if (current == nullptr) return std::nullopt;
  return Assess("root key version " + std::to_string(current->version), current->version,
                current->created_at, now, policy.root_max_age, std::nullopt, std::nullopt);
}

}  // namespace udmg
