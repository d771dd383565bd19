// policy show, policy set: the cryptoperiod policy and where each key stands against it
// (docs/security.md, "Cryptoperiods"). Showing needs no key; setting needs this node's K0 to be
// the current root key, which seals the change's audit entry.
#include <charconv>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/quoted_input.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/json_reports.h"
#include "pipeline/key_policy.h"

namespace udmg::cli {
namespace {

constexpr std::string_view kNoLimit = "none";

struct PolicyArgs {
  bool as_json = false;
  std::optional<std::string> master_max_age;
  std::optional<std::string> master_max_encryptions;
  std::optional<std::string> root_max_age;
};

// A limit as given: nullopt for `none`, else what `parse` makes of it.
template <typename T, typename Parse>
Result<std::optional<T>> ParseLimit(const std::string& text, Parse parse) {
  if (text == kNoLimit) return std::optional<T>();
  UDMG_ASSIGN_OR_RETURN(T value, parse(text));
  return std::optional<T>(value);
}

Result<int64_t> ParseAge(std::string_view flag, const std::string& text) {
  Result<std::chrono::seconds> age = ParseDuration(text);
  if (!age.ok()) return Error{ErrorCode::kBadInput, std::string(flag) + ": " + age.error().message};
  return static_cast<int64_t>(age->count());
}

Result<uint64_t> ParseCount(std::string_view flag, const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Error{ErrorCode::kBadInput, std::string(flag) + ": " + QuotedInput(text) +
                                           " is not a number of encryptions or `none`"};
  }
  return value;
}

void PrintStanding(const pipeline::PolicyStanding& standing) {
  for (const std::optional<KeyDue>& key : {standing.master, standing.root}) {
    if (key) std::cout << (key->due ? "ROTATION DUE: " : "") << key->why << "\n";
  }
}

Status RunShow(const GlobalOptions& global, const PolicyArgs& args) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> records, store->LoadKeyring());
  if (!records) {
    return Error{ErrorCode::kNotInitialized,
                 "the database has no keyring: run `udmg-server init` first"};
  }
  UDMG_ASSIGN_OR_RETURN(pipeline::PolicyStanding standing,
                        pipeline::AssessPolicy(*store, *records, NowSeconds()));
  if (args.as_json) {
    PrintJson(PolicyJson(standing));
    return Status::Ok();
  }
  std::cout << PolicyText(standing.policy) << "\n";
  PrintStanding(standing);
  return Status::Ok();
}

Status RunSet(const GlobalOptions& global, const PolicyArgs& args) {
  if (!args.master_max_age && !args.master_max_encryptions && !args.root_max_age) {
    return Error{ErrorCode::kUsage,
                 "policy set: give at least one of --master-max-age, --master-max-encryptions "
                 "and --root-max-age (each a limit or `none`)"};
  }
  // Every flag read before the database is opened: a bad one changes nothing.
  KeyPolicy given;
  if (args.master_max_age) {
    UDMG_ASSIGN_OR_RETURN(given.master_max_age,
                          ParseLimit<int64_t>(*args.master_max_age, [](const std::string& text) {
                            return ParseAge("--master-max-age", text);
                          }));
  }
  if (args.master_max_encryptions) {
    UDMG_ASSIGN_OR_RETURN(
        given.master_max_encryptions,
        ParseLimit<uint64_t>(*args.master_max_encryptions, [](const std::string& text) {
          return ParseCount("--master-max-encryptions", text);
        }));
  }
  if (args.root_max_age) {
    UDMG_ASSIGN_OR_RETURN(given.root_max_age,
                          ParseLimit<int64_t>(*args.root_max_age, [](const std::string& text) {
                            return ParseAge("--root-max-age", text);
                          }));
  }
  UDMG_RETURN_IF_ERROR(ValidatePolicy(given));
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  SignAuditEntries(*view.store, global, view.k0);
  KeyPolicy saved;
  UDMG_RETURN_IF_ERROR(view.store->UpdatePolicy([&](const KeyPolicy& current) {
    saved = current;
    if (args.master_max_age) saved.master_max_age = given.master_max_age;
    if (args.master_max_encryptions) saved.master_max_encryptions = given.master_max_encryptions;
    if (args.root_max_age) saved.root_max_age = given.root_max_age;
    return Result<KeyPolicy>(saved);
  }));
  std::cout << "policy set: " << PolicyText(saved) << "\n";
  UDMG_ASSIGN_OR_RETURN(pipeline::PolicyStanding standing,
                        pipeline::AssessPolicy(*view.store, view.records, NowSeconds()));
  PrintStanding(standing);
  return Status::Ok();
}

}  // namespace

void AddPolicyCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  CLI::App* policy = app.add_subcommand(
      "policy", "the cryptoperiod policy: how old and how used a key may get before rotation");
  policy->require_subcommand(1);
  auto [show, show_args] = AddCommand<PolicyArgs>(
      *policy, action, "show", "the policy, and where the master and root keys stand against it",
      [&global](const PolicyArgs& args) { return RunShow(global, args); });
  show->add_flag("--json", show_args->as_json, "print one JSON document (docs/json.md)");
  auto [set, set_args] = AddCommand<PolicyArgs>(
      *policy, action, "set",
      "change the limits given (`none` removes one); the others stay as they are",
      [&global](const PolicyArgs& args) { return RunSet(global, args); });
  set->add_option("--master-max-age", set_args->master_max_age,
                  "the active master key's maximum age (e.g. 90d), or none");
  set->add_option("--master-max-encryptions", set_args->master_max_encryptions,
                  "the active master key's maximum number of encryptions, every node's "
                  "together (at most 4294967296), or none");
  set->add_option("--root-max-age", set_args->root_max_age,
                  "the current root key's maximum age (e.g. 365d), or none");
}

}  // namespace udmg::cli
