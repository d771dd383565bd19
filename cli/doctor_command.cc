// doctor: every health check of docs/doctor.md, one line per finding with its fix; exit 13
// (kUnhealthy) when any finding is a problem, 0 otherwise (warnings do not change it).
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/doctor_checks.h"
#include "cli/exit_codes.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

size_t CountWith(const std::vector<Finding>& findings, FindingStatus status) {
  size_t count = 0;
  for (const Finding& finding : findings) count += finding.status == status ? 1 : 0;
  return count;
}

json FindingsJson(const std::vector<Finding>& findings) {
  json out;
  out["healthy"] = CountWith(findings, FindingStatus::kProblem) == 0;
  out["findings"] = json::array();
  for (const Finding& finding : findings) {
    out["findings"].push_back({{"check", finding.check},
                               {"status", FindingStatusName(finding.status)},
                               {"message", finding.message},
                               {"fix", finding.fix.empty() ? json(nullptr) : json(finding.fix)}});
  }
  return out;
}

// "problem  nodes: node gw-2 ... -> fix: set ..."
void PrintHuman(const std::vector<Finding>& findings) {
  for (const Finding& finding : findings) {
    std::string status(FindingStatusName(finding.status));
    status.resize(8, ' ');
    std::cout << status << finding.check << ": " << finding.message;
    if (!finding.fix.empty()) std::cout << " -> fix: " << finding.fix;
    std::cout << "\n";
  }
  std::cout << "doctor: " << CountWith(findings, FindingStatus::kOk) << " ok, "
            << CountWith(findings, FindingStatus::kWarning) << " warning(s), "
            << CountWith(findings, FindingStatus::kProblem) << " problem(s)\n";
}

Status RunDoctor(const GlobalOptions& global, bool as_json) {
  std::vector<Finding> findings = RunDoctorChecks(global);
  if (as_json) {
    std::cout << FindingsJson(findings).dump(2) << "\n";
  } else {
    PrintHuman(findings);
  }
  size_t problems = CountWith(findings, FindingStatus::kProblem);
  if (problems == 0) return Status::Ok();
  return Status(kUnhealthy,
                "doctor found " + std::to_string(problems) +
                    " problem(s): apply the fixes printed above, then run `udmg-server doctor` "
                    "again");
}

}  // namespace

void AddDoctorCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* doctor = app.add_subcommand(
      "doctor", "check this node's root key, the keyring, the registered columns, backups, "
                "other nodes' root keys, stale values and jobs; print each finding with its fix "
                "(exit 13 when any is a problem)");
  doctor->add_flag("--json", *as_json, "print {\"healthy\":bool,\"findings\":[...]}");
  doctor->callback([&, as_json] { action = [&, as_json] { return RunDoctor(global, *as_json); }; });
}

}  // namespace udmg::cli
