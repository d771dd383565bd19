#include "engine/audit_chain.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include "engine/encoding.h"

namespace udmg {
namespace {

constexpr std::string_view kAuditKeyMessage = "udmg-audit-key";
constexpr std::string_view kAuditDomain = "udmg-audit-v1";
constexpr std::string_view kRefusalPrefix = "refused: ";

AuditMac Hmac(std::span<const uint8_t> key, std::string_view message) {
  AuditMac mac{};
  unsigned int size = 0;
  static const uint8_t kNoKey = 0;  // HMAC() refuses a null key even when its length is zero
  if (HMAC(EVP_sha256(), key.empty() ? &kNoKey : key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const uint8_t*>(message.data()), message.size(), mac.data(),
           &size) == nullptr ||
      size != mac.size()) {
    std::abort();  // HMAC-SHA256 cannot fail short of a broken OpenSSL
  }
  return mac;
}

// A 4-byte big-endian length, then the bytes: no field can run into the next.
void AppendField(std::string& out, std::string_view field) {
  const auto size = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  out.append(field);
}

void AppendNumber(std::string& out, int64_t number) { AppendField(out, std::to_string(number)); }

}  // namespace

SecretBytes DeriveAuditKey(std::span<const uint8_t> k0) {
  AuditMac mac = Hmac(k0, kAuditKeyMessage);
  SecretBytes key(mac.begin(), mac.end());
  Wipe(mac.data(), mac.size());
  return key;
}

std::string AuditMessage(const AuditEntry& entry, const AuditMac& previous) {
  std::string message;
  AppendField(message, kAuditDomain);
  AppendNumber(message, entry.seq);
  AppendNumber(message, entry.at);
  AppendField(message, entry.node);
  AppendField(message, entry.os_user);
  AppendNumber(message, entry.pid);
  AppendField(message, entry.command);
  AppendField(message, entry.event);
  AppendField(message, entry.outcome);
  AppendNumber(message, entry.root_before);
  AppendNumber(message, entry.root_after);
  AppendNumber(message, entry.master_before);
  AppendNumber(message, entry.master_after);
  AppendField(message, entry.k0_fingerprint);
  AppendNumber(message, entry.key_version);
  // Only when there is one: the entries appended before the field existed keep their MACs.
  if (!entry.detail.empty()) AppendField(message, entry.detail);
  AppendField(message, AsText(previous));
  return message;
}

AuditMac SealAuditEntry(const AuditEntry& entry, const AuditMac& previous,
                        std::span<const uint8_t> key) {
  const std::string message = AuditMessage(entry, previous);
  if (entry.key_version != 0) return Hmac(key, message);
  AuditMac digest{};
  SHA256(reinterpret_cast<const uint8_t*>(message.data()), message.size(), digest.data());
  return digest;
}

std::string RetiredVersionsDetail(std::span<const uint32_t> versions) {
  std::string detail =
      versions.size() == 1 ? "retired master version " : "retired master versions ";
  for (size_t i = 0; i < versions.size(); ++i) {
    if (i > 0) detail += ", ";
    detail += std::to_string(versions[i]);
  }
  return detail;
}

std::vector<uint32_t> RetiredVersionsOf(const AuditEntry& entry) {
  std::vector<uint32_t> versions;
  std::string_view rest = entry.detail;
  for (std::string_view prefix : {"retired master versions ", "retired master version "}) {
    if (!rest.starts_with(prefix)) continue;
    rest.remove_prefix(prefix.size());
    while (!rest.empty()) {
      uint32_t version = 0;
      auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), version);
      if (error != std::errc() || version == 0) return {};
      versions.push_back(version);
      rest.remove_prefix(end - rest.data());
      if (rest.empty()) break;
      if (!rest.starts_with(", ")) return {};
      rest.remove_prefix(2);
    }
    return versions;
  }
  return versions;
}

bool IsRefusal(const AuditEntry& entry) { return entry.outcome.starts_with(kRefusalPrefix); }

bool MayBeUnsealed(const AuditEntry& entry) {
  return IsRefusal(entry) || entry.outcome.starts_with(kUnsealedPrefix);
}

std::string AuditHeadText(const AuditHead& head) {
  return std::to_string(head.seq) + ":" + HexEncode(head.mac);
}

std::optional<AuditHead> ParseAuditHead(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 18) return std::nullopt;
  AuditHead head;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') return std::nullopt;
    head.seq = head.seq * 10 + (c - '0');
  }
  const std::string_view hex = text.substr(colon + 1);
  if (hex.size() != 2 * kAuditMacSize) return std::nullopt;
  std::optional<SecretBytes> mac = HexDecode(hex);
  if (!mac) return std::nullopt;
  std::copy(mac->begin(), mac->end(), head.mac.begin());
  return head;
}

AuditVerdict VerifyAuditChain(std::span<const AuditEntry> entries, const AuditKeyLookup& key_of,
                              const AuditExpectations& expectations) {
  AuditVerdict verdict;
  AuditMac previous{};
  std::optional<uint32_t> current_root;  // as the last keyed entry left it
  const AuditEntry* last_keyed = nullptr;
  auto broken = [&](const AuditEntry& entry, std::string why) {
    verdict.first_break = entry.seq;
    verdict.why = std::move(why);
    return verdict;
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const AuditEntry& entry = entries[i];
    const std::string at = "entry " + std::to_string(entry.seq);
    if (entry.seq != static_cast<int64_t>(i) + 1) {
      return broken(entry, at + " is where entry " + std::to_string(i + 1) +
                               " should be: entries were removed, reordered or inserted");
    }
    std::optional<SecretBytes> key;
    if (entry.key_version != 0) {
      key = key_of(entry.key_version);
      if (!key) {
        return broken(entry, at + " is sealed by root key version " +
                                 std::to_string(entry.key_version) +
                                 ", which this keyring does not hold (or cannot unwrap)");
      }
    } else if (!MayBeUnsealed(entry)) {
      return broken(entry, at + " is not sealed by a root key but records a change (only a "
                                "refusal or an entry marked unsealed may be)");
    }
    AuditMac expected = SealAuditEntry(
        entry, previous, key ? std::span<const uint8_t>(*key) : std::span<const uint8_t>());
    if (!SafeEquals(expected, entry.mac)) {
      return broken(entry,
                    at + " does not verify: it was edited, or an unsealed entry before it was");
    }
    if (entry.key_version != 0) {
      const std::string version = std::to_string(entry.key_version);
      if (entry.key_version != entry.root_before && entry.key_version != entry.root_after) {
        return broken(entry, at + " is sealed by root key version " + version +
                                 ", which was not current when it was appended");
      }
      if (current_root && entry.root_before != *current_root) {
        return broken(entry, at + " says root key version " + std::to_string(entry.root_before) +
                                 " was current, but the entry before it left version " +
                                 std::to_string(*current_root) + " current");
      }
      current_root = entry.root_after;
      last_keyed = &entry;
    }
    verdict.unsealed = entry.key_version == 0 ? verdict.unsealed + 1 : 0;
    previous = entry.mac;
    ++verdict.checked;
    verdict.head = {entry.seq, entry.mac};
  }
  if (last_keyed && expectations.current_root != 0 && *current_root != expectations.current_root) {
    verdict.checked = static_cast<uint64_t>(last_keyed->seq - 1);
    return broken(*last_keyed, "entry " + std::to_string(last_keyed->seq) +
                                   " leaves root key version " + std::to_string(*current_root) +
                                   " current, but the keyring's current root " + "key is version " +
                                   std::to_string(expectations.current_root) +
                                   ": a keyring change is missing from the trail");
  }
  if (const std::optional<AuditHead>& head = expectations.head) {
    const bool held = head->seq >= 1 && head->seq <= static_cast<int64_t>(entries.size()) &&
                      SafeEquals(entries[head->seq - 1].mac, head->mac);
    verdict.expected_head_missing = !held;
  }
  return verdict;
}

}  // namespace udmg
