#include "pipeline/evidence_report.h"

#include "pipeline/audit_trail.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {
namespace {

// The first entry that made `version` current: `before` differs from it and `after` is it.
template <typename Before, typename After>
std::optional<KeyOrigin> OriginOf(const std::vector<AuditEntry>& entries, uint32_t version,
                                  Before before, After after) {
  for (const AuditEntry& entry : entries) {
    if (after(entry) == version && before(entry) != version) {
      return KeyOrigin{entry.at, entry.command, entry.node, entry.os_user};
    }
  }
  return std::nullopt;
}

// The last entry that retired `version` (a restore may bring a version back, and it be retired
// again).
std::optional<KeyOrigin> RetirementOf(const std::vector<AuditEntry>& entries, uint32_t version) {
  std::optional<KeyOrigin> found;
  for (const AuditEntry& entry : entries) {
    for (uint32_t retired : RetiredVersionsOf(entry)) {
      if (retired == version) found = KeyOrigin{entry.at, entry.command, entry.node, entry.os_user};
    }
  }
  return found;
}

}  // namespace

Result<EvidenceReport> BuildEvidenceReport(db::Store& store, const KeyringRecords& records,
                                           std::span<const uint8_t> k0, int64_t now) {
  EvidenceReport report;
  report.generated_at = now;
  report.database = store.Describe();
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  UDMG_RETURN_IF_ERROR(db::RequireEveryRowVisible(store, columns, "no report was made"));
  UDMG_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, store.ListAudit());
  UDMG_ASSIGN_OR_RETURN(report.audit, VerifyAuditTrail(store, records, k0, std::nullopt));
  // Only the entries that verify say who did what: an edited one could name anyone.
  if (report.audit.first_break && report.audit.checked < entries.size()) {
    entries.resize(report.audit.checked);
  }
  UDMG_ASSIGN_OR_RETURN(report.policy, AssessPolicy(store, records, now));
  const std::map<uint32_t, uint64_t>& encryptions = report.policy.encryptions;

  const uint32_t current_root = CurrentRootVersion(records);
  for (const RootKeyRecord& root : records.roots) {
    RootKeyEvidence evidence{root, root.version == current_root};
    evidence.origin = OriginOf(
        entries, root.version, [](const AuditEntry& e) { return e.root_before; },
        [](const AuditEntry& e) { return e.root_after; });
    if (const RootKeyRecord* next = FindRoot(records, root.version + 1)) {
      evidence.replaced_at = next->created_at;
    }
    report.roots.push_back(std::move(evidence));
  }
  for (const MasterKeyRecord& master : records.masters) {
    MasterKeyEvidence evidence{master};
    evidence.origin = OriginOf(
        entries, master.version, [](const AuditEntry& e) { return e.master_before; },
        [](const AuditEntry& e) { return e.master_after; });
    if (master.state == MasterKeyState::kRetired) {
      evidence.retired_by = RetirementOf(entries, master.version);
    }
    if (auto made = encryptions.find(master.version); made != encryptions.end()) {
      evidence.encryptions = made->second;
    }
    report.masters.push_back(std::move(evidence));
  }
  for (const db::ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(ColumnValues counted, CountColumnValues(store, column));
    if (!counted.counts) return Error{ErrorCode::kNotFound, counted.missing};
    report.columns[column.Name()] = {counted.counts->plaintext, counted.counts->malformed};
    for (MasterKeyEvidence& master : report.masters) {
      auto found = counted.counts->by_version.find(master.record.version);
      master.values[column.Name()] = found == counted.counts->by_version.end() ? 0 : found->second;
    }
  }
  UDMG_ASSIGN_OR_RETURN(std::vector<db::NodeRecord> nodes, store.ListNodes());
  report.nodes = AssessNodes(nodes, records, now);
  return report;
}

}  // namespace udmg::pipeline
