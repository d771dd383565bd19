// prune-keys: retires the master versions no stored value uses any more, so a leaked
// old K1 opens nothing and the keyring stops growing. The values are counted by the store under
// the keyring lock, in the same transaction that retires: a value written meanwhile under an old
// version cannot slip through. All or nothing: while any candidate version is still used, nothing
// is retired and the refusal names the columns and counts.
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/audit_chain.h"
#include "engine/restore.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

struct PruneArgs {
  bool dry_run = false;
  std::vector<uint32_t> versions;  // --version N ...: only these
  bool as_json = false;
};

// "credentials.secret (200 values), other.token (3 values)"
std::string ColumnCounts(const std::map<std::string, uint64_t>& columns) {
  std::string text;
  for (const auto& [column, count] : columns) {
    if (!text.empty()) text += ", ";
    text += column + " (" + std::to_string(count) + (count == 1 ? " value)" : " values)");
  }
  return text;
}

std::string VersionList(const std::vector<uint32_t>& versions) {
  std::string text;
  for (uint32_t version : versions) {
    if (!text.empty()) text += ", ";
    text += std::to_string(version);
  }
  return text;
}

Error StillUsedError(const PrunePlan& plan) {
  std::string message = "nothing retired: ";
  bool first = true;
  for (const auto& [version, columns] : plan.still_used) {
    if (!first) message += "; ";
    first = false;
    message += "master version " + std::to_string(version) + " is still used by " +
               ColumnCounts(columns);
  }
  message += ": run `udmg-server reencrypt` (or `sweep`) to move them to the active version first";
  if (!plan.retired.empty()) {
    message += ", or prune only the unused ones with --version " + VersionList(plan.retired);
  }
  return Error{ErrorCode::kConflict, message};
}

void PrintPrune(const PruneArgs& args, const PrunePlan& plan) {
  if (args.as_json) {
    // A dry run retires nothing: its list is named for what it is.
    std::cout << json{{"dry_run", args.dry_run},
                      {args.dry_run ? "would_retire" : "retired", plan.retired}}
                     .dump(2)
              << "\n";
    return;
  }
  if (plan.retired.empty()) {
    std::cout << "nothing to prune: every decrypt_only master version is still needed, or there "
                 "is none\n";
    return;
  }
  for (uint32_t version : plan.retired) {
    std::cout << (args.dry_run ? "would retire" : "retired") << " master version " << version
              << ": no stored value uses it\n";
  }
  if (args.dry_run) std::cout << "dry run: nothing was written\n";
}

Status RunPrune(const GlobalOptions& global, const PruneArgs& args) {
  // Only a node with the current K0; a dry run does not even record this node in udmg_nodes.
  std::unique_ptr<pipeline::SecretsClient> client;
  std::optional<KeyringView> view;
  if (args.dry_run) {
    UDMG_ASSIGN_OR_RETURN(view, OpenKeyringView(global));
  } else {
    UDMG_ASSIGN_OR_RETURN(client, OpenClient(global));
  }
  db::Store& store = view ? *view->store : client->store();
  std::optional<PrunePlan> planned;
  UDMG_RETURN_IF_ERROR(store.UpdateKeyringChecked(
      [&](const std::optional<KeyringRecords>& current, const std::string& keyring_id,
          const VersionUsage& usage) -> Result<std::optional<db::KeyringReplacement>> {
        if (!current) {
          return Error{ErrorCode::kNotInitialized,
                       "the database has no keyring: run `udmg-server init` first"};
        }
        UDMG_ASSIGN_OR_RETURN(PrunePlan plan, PlanPrune(*current, usage, args.versions));
        if (!plan.still_used.empty()) return StillUsedError(plan);
        planned = plan;
        if (args.dry_run || plan.retired.empty()) return std::optional<db::KeyringReplacement>();
        return std::optional<db::KeyringReplacement>(db::KeyringReplacement{
            std::move(plan.records), keyring_id, {}, "prune", RetiredVersionsDetail(plan.retired)});
      },
      /*refuse_while_job_runs=*/true));
  if (!planned) return Error{ErrorCode::kInternal, "the pruning was not planned (a bug)"};
  PrintPrune(args, *planned);
  return Status::Ok();
}

}  // namespace

void AddPruneCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [prune, args] = AddCommand<PruneArgs>(
      app, action, "prune-keys",
      "retire the decrypt_only master versions no stored value uses (counted under the keyring "
      "lock); refused while any is still used or a re-encryption job runs",
      [&global](const PruneArgs& args) { return RunPrune(global, args); });
  prune->add_flag("--dry-run", args->dry_run, "show what would be retired; write nothing");
  prune->add_option("--version", args->versions, "retire only these versions (repeatable)");
  prune->add_flag("--json", args->as_json, "print one JSON document");
}

}  // namespace udmg::cli
