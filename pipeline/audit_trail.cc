#include "pipeline/audit_trail.h"

#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "engine/keyring.h"
#include "engine/root_key.h"
#include "pipeline/node_presence.h"

namespace udmg::pipeline {
namespace {

std::string EffectiveUserName() {
  const uid_t uid = geteuid();
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(uid);
}

}  // namespace

db::AuditSigner AuditSignerFor(std::string program, std::span<const uint8_t> k0) {
  Result<NodeIdentity> named = ThisNode(program);
  const NodeIdentity self = named.ok() ? *std::move(named) : ThisHost(std::move(program));
  db::AuditSigner signer;
  signer.node = self.node_id;
  signer.os_user = EffectiveUserName();
  signer.pid = self.pid;
  signer.command = self.program;
  if (!k0.empty()) {
    signer.k0_fingerprint = RootKeyFingerprint(k0);
    signer.key = DeriveAuditKey(k0);
  }
  return signer;
}

std::optional<std::string_view> RefusedEventOf(const Error& error) {
  switch (error.code) {
    case ErrorCode::kWrongKey: return "root-key";
    case ErrorCode::kConflict: return "conflict";
    default: return std::nullopt;
  }
}

bool RecordRefusal(db::AuditStore& store, const Error& error) {
  std::optional<std::string_view> event = RefusedEventOf(error);
  return event && store.AppendRefusal(*event, error.message).ok();
}

Result<AuditVerdict> VerifyAuditTrail(db::AuditStore& store, const KeyringRecords& keyring,
                                      std::span<const uint8_t> current_k0,
                                      const std::optional<AuditHead>& expected) {
  UDMG_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, store.ListAudit());
  // A version the keyring no longer holds (or whose row no longer unwraps) has no key: the
  // verdict names the first entry it sealed.
  return VerifyAuditChain(
      entries,
      [&](uint32_t version) -> std::optional<SecretBytes> {
        Result<SecretBytes> k0 = RootKeyOf(keyring, current_k0, version);
        if (!k0.ok()) return std::nullopt;
        return DeriveAuditKey(*k0);
      },
      AuditExpectations{CurrentRootVersion(keyring), expected});
}

std::optional<std::string> AuditTrailProblem(const AuditVerdict& verdict,
                                             const std::optional<AuditHead>& expected) {
  if (verdict.first_break) {
    const std::string verified =
        verdict.checked == 0   ? "no entry before it verifies"
        : verdict.checked == 1 ? "entry 1 verifies"
                               : "entries 1 to " + std::to_string(verdict.checked) + " verify";
    return "the audit trail does not verify: " + verdict.why + " (" + verified + ")";
  }
  if (verdict.expected_head_missing && expected) {
    return "the audit trail verifies but no longer holds the expected head " +
           AuditHeadText(*expected) + ": it ends at " + AuditHeadText(verdict.head) +
           " (entries were removed from its end, or the head is another database's)";
  }
  return std::nullopt;
}

}  // namespace udmg::pipeline
