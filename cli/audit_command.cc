// audit list, audit verify: the audit trail (docs/security.md, "Audit trail"). Listing needs no
// key; verifying needs this node's K0 to be the current root key, which unwraps the older ones.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/quoted_input.h"
#include "base/time_text.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/exit_codes.h"
#include "cli/json_reports.h"
#include "engine/encoding.h"
#include "pipeline/audit_trail.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

struct AuditArgs {
  bool as_json = false;
  std::string expect_head;           // "SEQ:MAC" as `audit verify` printed it
  std::optional<std::string> since;  // a UTC time or date, or a duration ago
};

// --since: "2026-12-01", "2026-12-01T10:00:00Z", or a duration before now ("7d", "12h").
Result<int64_t> ParseSince(const std::string& text) {
  if (std::optional<int64_t> time = ParseUtcTime(text)) return *time;
  if (Result<std::chrono::seconds> ago = ParseDuration(text); ago.ok()) {
    return NowSeconds() - ago->count();
  }
  return Error{ErrorCode::kBadInput,
               "--since: " + QuotedInput(text) +
                   " is neither a UTC date or time (2026-12-01, 2026-12-01T10:00:00Z) nor a "
                   "duration before now (7d, 12h)"};
}

// "1 -> 2", or "2" when it did not change.
std::string Change(uint32_t before, uint32_t after) {
  if (before == after) return std::to_string(after);
  return std::to_string(before) + " -> " + std::to_string(after);
}

json EntryJson(const AuditEntry& entry) {
  return json{{"seq", entry.seq},
              {"at", Rfc3339(entry.at)},
              {"node", entry.node},
              {"os_user", entry.os_user},
              {"pid", entry.pid},
              {"command", entry.command},
              {"event", entry.event},
              {"outcome", entry.outcome},
              {"root_before", entry.root_before},
              {"root_after", entry.root_after},
              {"master_before", entry.master_before},
              {"master_after", entry.master_after},
              {"k0_fingerprint", entry.k0_fingerprint},
              {"key_version", entry.key_version},
              {"mac", HexEncode(entry.mac)},
              {"detail", entry.detail}};
}

Status RunList(const GlobalOptions& global, const AuditArgs& args) {
  int64_t since = 0;
  if (args.since) {
    UDMG_ASSIGN_OR_RETURN(since, ParseSince(*args.since));
  }
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, store->ListAudit());
  std::erase_if(entries, [since](const AuditEntry& entry) { return entry.at < since; });
  if (args.as_json) {
    json list = json::array();
    for (const AuditEntry& entry : entries) list.push_back(EntryJson(entry));
    PrintJson(json{{"entries", list}});
    return Status::Ok();
  }
  for (const AuditEntry& entry : entries) {
    std::cout << entry.seq << " " << Rfc3339(entry.at) << " " << entry.command << ": "
              << entry.event << " " << entry.outcome
              << (entry.detail.empty() ? "" : " (" + entry.detail + ")") << "; root key "
              << Change(entry.root_before, entry.root_after) << ", master key "
              << Change(entry.master_before, entry.master_after) << "; node " << entry.node
              << ", user " << entry.os_user << ", pid " << entry.pid << "; "
              << (entry.key_version
                      ? "sealed by root key version " + std::to_string(entry.key_version)
                      : std::string("unsealed"))
              << "\n";
  }
  if (entries.empty()) {
    std::cout << (args.since ? "no audit entry since " + Rfc3339(since)
                             : "the audit trail is empty")
              << "\n";
  }
  return Status::Ok();
}

Status RunVerify(const GlobalOptions& global, const AuditArgs& args) {
  std::optional<AuditHead> expected;
  if (!args.expect_head.empty()) {
    expected = ParseAuditHead(args.expect_head);
    if (!expected) {
      return Error{ErrorCode::kBadInput,
                   "--expect-head must be SEQ:MAC as `audit verify` prints it (a number, a colon "
                   "and 64 hex digits)"};
    }
  }
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  UDMG_ASSIGN_OR_RETURN(AuditVerdict verdict,
                        pipeline::VerifyAuditTrail(*view.store, view.records, view.k0, expected));
  const std::string head = AuditHeadText(verdict.head);
  const std::optional<std::string> problem = pipeline::AuditTrailProblem(verdict, expected);
  if (args.as_json) {
    PrintJson(json{{"verified", !problem.has_value()},
                   {"entries", verdict.checked},
                   {"unsealed", verdict.unsealed},
                   {"head", head},
                   {"first_break", verdict.first_break ? json(*verdict.first_break) : json()},
                   {"problem", problem ? json(*problem) : json()}});
  } else if (!problem) {
    std::cout << "audit trail verified: " << verdict.checked
              << (verdict.checked == 1 ? " entry" : " entries");
    if (verdict.unsealed > 0) {
      std::cout << ", the last " << verdict.unsealed
                << " of them not yet sealed by a root key (refusals, or job changes made "
                   "without the current one)";
    }
    std::cout << "\nhead " << head << "\n";
  }
  if (problem) return Status(kAuditBroken, *problem + "; see docs/security.md, \"Audit trail\"");
  return Status::Ok();
}

}  // namespace

void AddAuditCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  CLI::App* audit = app.add_subcommand("audit", "the audit trail of every keyring change");
  audit->require_subcommand(1);
  auto [list, list_args] =
      AddCommand<AuditArgs>(*audit, action, "list", "list the audit trail's entries, oldest first",
                            [&global](const AuditArgs& args) { return RunList(global, args); });
  list->add_flag("--json", list_args->as_json, "print one JSON document (docs/json.md)");
  list->add_option("--since", list_args->since,
                   "only the entries made from then on: a UTC date or time (2026-12-01, "
                   "2026-12-01T10:00:00Z) or a duration before now (7d, 12h)");
  auto [verify, verify_args] = AddCommand<AuditArgs>(
      *audit, action, "verify",
      "check every entry's seal and the chain (exit 15 at the first broken entry)",
      [&global](const AuditArgs& args) { return RunVerify(global, args); });
  verify->add_flag("--json", verify_args->as_json, "print one JSON document (docs/json.md)");
  verify->add_option("--expect-head", verify_args->expect_head,
                     "SEQ:MAC, the head a previous `audit verify` printed: exit 15 unless the "
                     "trail still holds it (detects entries removed from its end)");
}

}  // namespace udmg::cli
