// report [--json | --markdown]: the evidence an auditor asks for about the keys
// (docs/compliance.md), from one command. Needs this node's K0 to be the current root key: the
// audit trail is verified with it. A trail that does not verify is in the report, and the exit code
// is 15.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/time_text.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/json_reports.h"
#include "pipeline/audit_trail.h"
#include "pipeline/evidence_report.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

enum class ReportFormat { kText, kMarkdown };

struct ReportArgs {
  bool as_json = false;
  bool as_markdown = false;
};

json OriginJson(const std::optional<pipeline::KeyOrigin>& origin) {
  if (!origin) return json();
  return {{"at", Rfc3339(origin->at)},
          {"command", origin->command},
          {"node", origin->node},
          {"os_user", origin->os_user}};
}

json ReportJson(const pipeline::EvidenceReport& report) {
  json roots = json::array();
  for (const pipeline::RootKeyEvidence& root : report.roots) {
    roots.push_back(
        {{"version", root.record.version},
         {"fingerprint", root.record.fingerprint},
         {"current", root.current},
         {"wrapped_by", root.record.wrapped_by ? json(*root.record.wrapped_by) : json()},
         {"created_at", Rfc3339(root.record.created_at)},
         {"age_seconds", std::max<int64_t>(0, report.generated_at - root.record.created_at)},
         {"created_by", OriginJson(root.origin)},
         {"replaced_at", root.replaced_at ? json(Rfc3339(*root.replaced_at)) : json()}});
  }
  json masters = json::array();
  for (const pipeline::MasterKeyEvidence& master : report.masters) {
    uint64_t total = 0;
    for (const auto& [column, count] : master.values) total += count;
    masters.push_back(
        {{"version", master.record.version},
         {"state", MasterKeyStateName(master.record.state)},
         {"wrapped_by_root", master.record.root_version},
         {"created_at", Rfc3339(master.record.created_at)},
         {"age_seconds", std::max<int64_t>(0, report.generated_at - master.record.created_at)},
         {"created_by", OriginJson(master.origin)},
         {"retired_by", OriginJson(master.retired_by)},
         {"encryptions", master.encryptions},
         {"values", master.values},
         {"values_total", total}});
  }
  json columns = json::object();
  for (const auto& [name, leftovers] : report.columns) {
    columns[name] = {{"plaintext", leftovers.plaintext}, {"malformed", leftovers.malformed}};
  }
  const std::optional<std::string> problem =
      pipeline::AuditTrailProblem(report.audit, std::nullopt);
  json nodes = json::array();
  for (const pipeline::NodeAssessment& node : report.nodes) {
    nodes.push_back({{"node_id", node.node.node_id},
                     {"host", node.node.host},
                     {"root_version", node.version ? json(*node.version) : json()},
                     {"root_key", pipeline::NodeKeyStandingName(node.standing)},
                     {"last_seen", Rfc3339(node.node.last_seen)},
                     {"gone", node.gone}});
  }
  return {{"generated_at", Rfc3339(report.generated_at)},
          {"database", report.database},
          {"root_keys", roots},
          {"master_keys", masters},
          {"columns", columns},
          {"cryptoperiods", PolicyJson(report.policy)},
          {"audit",
           {{"verified", !problem.has_value()},
            {"entries", report.audit.checked},
            {"unsealed", report.audit.unsealed},
            {"head", AuditHeadText(report.audit.head)},
            {"first_break", report.audit.first_break ? json(*report.audit.first_break) : json()},
            {"problem", problem ? json(*problem) : json()}}},
          {"nodes", nodes}};
}

// One section of the report: a title and a table, rendered as Markdown or as plain text.
struct Section {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> lines;  // sentences after the table
};

std::string Text(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string Origin(const json& origin) {
  if (origin.is_null()) return "not in the audit trail";
  return Text(origin["os_user"]) + " on " + Text(origin["node"]) + " (" + Text(origin["command"]) +
         ")";
}

// "2026-12-07T20:19:32Z by ops on gw-1 (udmg-server retire-key)", or "-" when not retired.
std::string Retirement(const json& master) {
  if (master["state"] != "retired") return "-";
  const json& retired_by = master["retired_by"];
  if (retired_by.is_null()) return Origin(retired_by);
  return Text(retired_by["at"]) + " by " + Origin(retired_by);
}

std::string Values(const json& values) {
  std::string text;
  for (const auto& [column, count] : values.items()) {
    text += (text.empty() ? "" : ", ") + column + " " + count.dump();
  }
  return text.empty() ? "-" : text;
}

std::vector<Section> Sections(const json& report, const KeyPolicy& key_policy) {
  std::vector<Section> sections;
  Section roots{"Root keys (K0)",
                {"version", "fingerprint", "state", "created", "by", "age (days)", "replaced"}};
  for (const json& root : report["root_keys"]) {
    roots.rows.push_back(
        {Text(root["version"]), Text(root["fingerprint"]),
         root["current"].get<bool>() ? "current" : "kept, wrapped by v" + Text(root["wrapped_by"]),
         Text(root["created_at"]), Origin(root["created_by"]),
         std::to_string(root["age_seconds"].get<int64_t>() / 86400), Text(root["replaced_at"])});
  }
  sections.push_back(roots);
  Section masters{"Master keys (K1)",
                  {"version", "state", "wrapped by", "created", "by", "age (days)", "encryptions",
                   "values remaining", "retired"}};
  for (const json& master : report["master_keys"]) {
    masters.rows.push_back(
        {Text(master["version"]), Text(master["state"]), "root v" + Text(master["wrapped_by_root"]),
         Text(master["created_at"]), Origin(master["created_by"]),
         std::to_string(master["age_seconds"].get<int64_t>() / 86400), Text(master["encryptions"]),
         Values(master["values"]), Retirement(master)});
  }
  sections.push_back(masters);
  Section columns{"Values under no master key", {"column", "plaintext", "malformed"}};
  for (const auto& [name, counts] : report["columns"].items()) {
    columns.rows.push_back({name, Text(counts["plaintext"]), Text(counts["malformed"])});
  }
  sections.push_back(columns);
  const json& periods = report["cryptoperiods"];
  Section policy{"Cryptoperiod policy", {}, {}, {}};
  if (key_policy == KeyPolicy{}) {
    policy.lines.push_back("no cryptoperiod policy is set (`udmg-server policy set`)");
  } else {
    policy.lines.push_back(PolicyText(key_policy));
    policy.lines.push_back(std::string("policy met: ") +
                           (periods["overdue"].get<bool>() ? "no" : "yes"));
  }
  for (const char* key : {"master_key", "root_key"}) {
    if (periods[key].is_object()) {
      policy.lines.push_back(std::string(periods[key]["due"].get<bool>() ? "ROTATION DUE: " : "") +
                             Text(periods[key]["why"]));
    }
  }
  sections.push_back(policy);
  const json& audit = report["audit"];
  Section trail{"Audit trail", {}, {}, {}};
  trail.lines.push_back(audit["verified"].get<bool>() ? "verified: " + Text(audit["entries"]) +
                                                            " entries, head " + Text(audit["head"])
                                                      : "NOT VERIFIED: " + Text(audit["problem"]));
  sections.push_back(trail);
  Section nodes{"Nodes", {"node", "host", "root key", "last seen"}};
  for (const json& node : report["nodes"]) {
    nodes.rows.push_back(
        {Text(node["node_id"]), Text(node["host"]),
         Text(node["root_key"]) +
             (node["root_version"].is_null() ? "" : " (v" + Text(node["root_version"]) + ")"),
         Text(node["last_seen"]) + (node["gone"].get<bool>() ? " (gone)" : "")});
  }
  sections.push_back(nodes);
  return sections;
}

void PrintSections(const json& report, const KeyPolicy& policy, ReportFormat format) {
  const bool markdown = format == ReportFormat::kMarkdown;
  std::cout << (markdown ? "# Key management evidence report\n\n" : "")
            << "database: " << Text(report["database"]) << "; generated "
            << Text(report["generated_at"]) << "\n";
  for (const Section& section : Sections(report, policy)) {
    std::cout << "\n" << (markdown ? "## " + section.title + "\n\n" : section.title + ":\n");
    // Plain text pads each column to its widest cell.
    std::vector<size_t> widths(section.header.size(), 0);
    for (const auto& cells : section.rows) {
      for (size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], cells[i].size());
    }
    for (size_t i = 0; i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], section.header[i].size());
    }
    auto row = [&](const std::vector<std::string>& cells) {
      std::string line = markdown ? "" : " ";
      for (size_t i = 0; i < cells.size(); ++i) {
        line += markdown ? "| " + cells[i] + " " : " " + cells[i];
        if (!markdown && i + 1 < cells.size()) {
          line += std::string(widths[i] - cells[i].size(), ' ');
        }
      }
      std::cout << line << (markdown ? "|" : "") << "\n";
    };
    if (!section.header.empty()) {
      row(section.header);
      if (markdown) row(std::vector<std::string>(section.header.size(), "---"));
      for (const std::vector<std::string>& cells : section.rows) row(cells);
    }
    for (const std::string& line : section.lines) {
      std::cout << (markdown ? "- " : "  ") << line << "\n";
    }
  }
}

Status RunReport(const GlobalOptions& global, const ReportArgs& args) {
  if (args.as_json && args.as_markdown) {
    return Error{ErrorCode::kUsage, "report: --json and --markdown exclude each other"};
  }
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  UDMG_ASSIGN_OR_RETURN(
      pipeline::EvidenceReport report,
      pipeline::BuildEvidenceReport(*view.store, view.records, view.k0, NowSeconds()));
  const json document = ReportJson(report);
  if (args.as_json) {
    PrintJson(document);
  } else {
    PrintSections(document, report.policy.policy,
                  args.as_markdown ? ReportFormat::kMarkdown : ReportFormat::kText);
  }
  if (!document["audit"]["verified"].get<bool>()) {
    return Status(kAuditBroken, document["audit"]["problem"].get<std::string>() +
                                    "; see docs/security.md, \"Audit trail\"");
  }
  return Status::Ok();
}

}  // namespace

void AddReportCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [report, args] = AddCommand<ReportArgs>(
      app, action, "report",
      "the evidence report: every key version's origin, state, age, use and remaining values, "
      "the policy, the audit trail's verification and the nodes (exit 15 if the trail is broken)",
      [&global](const ReportArgs& args) { return RunReport(global, args); });
  report->add_flag("--json", args->as_json, "print one JSON document (docs/json.md)");
  report->add_flag("--markdown", args->as_markdown, "print it as a Markdown document");
}

}  // namespace udmg::cli
