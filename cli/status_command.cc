// status: the keyring, this node's K0 standing, every node recorded in udmg_nodes (those on an
// older or unknown K0 marked stale), the spread of every registered column's values over master
// versions, and whether the session is read-only (a hot standby). Needs no decryption, so it works
// with a wrong or missing K0; it writes nothing (not even this node's row).
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/time_text.h"
#include "cli/commands.h"
#include "cli/json_reports.h"
#include "cli/output.h"
#include "cli/key_input.h"
#include "cli/root_key_source.h"
#include "engine/root_key.h"
#include "engine/sealed_root_key.h"
#include "pipeline/key_policy.h"
#include "pipeline/key_state_metrics.h"
#include "pipeline/lock_wait.h"
#include "pipeline/node_presence.h"
#include "pipeline/reencrypt.h"

namespace udmg::cli {
namespace {

using nlohmann::json;

// This node's K0 against the stored root keys.
struct NodeStanding {
  // "current", "older", "unknown", "missing", "malformed", or "unusable" (two sources, a key
  // file that cannot be read, a sealed key its token does not unseal: `problem` says which)
  std::string root_key;
  std::optional<uint32_t> version;
  std::optional<std::string> fingerprint;
  std::optional<std::string> source;   // where the key came from (cli/root_key_source.h)
  std::optional<std::string> problem;  // why it is malformed or unusable; never the value
};

NodeStanding CheckThisNode(const std::optional<KeyringRecords>& records) {
  Result<std::optional<RootKeyText>> text = ReadRootKeyText();
  if (!text.ok()) return {"unusable", std::nullopt, std::nullopt, std::nullopt, text.error().message};
  if (!*text) return {"missing", std::nullopt, std::nullopt};
  std::string source = (*text)->source;
  auto k0 = RootKeyFromText(AsText((*text)->text), source);
  if (!k0.ok()) {
    // A sealed key that its token does not unseal is unusable here, not malformed.
    const char* standing = LooksSealed(AsText((*text)->text)) ? "unusable" : "malformed";
    return {standing, std::nullopt, std::nullopt, source, k0.error().message};
  }
  if (!records) return {"unknown", std::nullopt, RootKeyFingerprint(*k0), source};
  RootKeyCheck check = CheckRootKey(*records, *k0);
  switch (check.standing) {
    case RootKeyStanding::kCurrent: return {"current", check.version, check.fingerprint, source};
    case RootKeyStanding::kOlder: return {"older", check.version, check.fingerprint, source};
    case RootKeyStanding::kUnknown: break;
  }
  return {"unknown", std::nullopt, check.fingerprint, source};
}

// The policy and where the keys stand against it; null without a keyring or, with a warning,
// when the policy cannot be read.
json CryptoperiodsJson(db::Store& store, const std::optional<KeyringRecords>& records) {
  if (!records) return nullptr;
  Result<pipeline::PolicyStanding> standing = pipeline::AssessPolicy(store, *records, NowSeconds());
  if (!standing.ok()) {
    PrintWarning("the cryptoperiod policy could not be read: " + standing.error().message,
                 standing.error().setting);
    return nullptr;
  }
  return PolicyJson(*standing);
}

json OptionalText(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

// Every node recorded in udmg_nodes, with its standing against the keyring now. A failed read is
// a warning (null): status is informative and reports what it can.
json NodesJson(db::Store& store, const std::optional<KeyringRecords>& records) {
  if (!records) return json::array();
  Result<std::vector<db::NodeRecord>> nodes = store.ListNodes();
  if (!nodes.ok()) {
    PrintWarning("the node registry could not be read: " + nodes.error().message,
                 nodes.error().setting);
    return nullptr;
  }
  json out = json::array();
  for (const pipeline::NodeAssessment& node :
       pipeline::AssessNodes(*nodes, *records, NowSeconds())) {
    out.push_back(
        {{"node_id", node.node.node_id},
         {"host", node.node.host},
         {"pid", node.node.pid},
         {"program", node.node.program},
         {"root_key", pipeline::NodeKeyStandingName(node.standing)},
         {"root_version", node.version ? json(*node.version) : json(nullptr)},
         {"root_fingerprint", node.node.root_fingerprint.empty()
                                  ? json(nullptr)
                                  : json(node.node.root_fingerprint)},
         {"stale", node.stale()},
         {"gone", node.gone},
         {"first_seen", node.node.first_seen},
         {"last_seen", node.node.last_seen},
         {"description", pipeline::DescribeNode(node)}});
  }
  return out;
}

// Running jobs whose statement waits for a lock (PostgreSQL; stored on the job row by the job's
// process), as `reencrypt --status` shows them.
Result<std::vector<db::JobRecord>> WaitingJobs(db::Store& store) {
  std::vector<db::JobRecord> waiting;
  for (std::string_view kind : {pipeline::kReencryptJobKind, pipeline::kSweepJobKind}) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.FindLatestJobNotDone(kind));
    if (job && job->state == db::JobState::kRunning && job->waiting) {
      waiting.push_back(std::move(*job));
    }
  }
  return waiting;
}

json WaitingJobJson(const db::JobRecord& job) {
  const db::JobWait& wait = *job.waiting;
  return {{"job_id", job.id},
          {"kind", job.kind},
          {"blocking_pids", wait.blocking_pids},
          {"since_timestamp_seconds", wait.since},
          {"description", pipeline::DescribeLockWait(
                              wait.blocking_pids, static_cast<double>(NowSeconds() - wait.since)) +
                              ", since " + UtcText(wait.since)}};
}

// The job waiting with `column`, if any: its values are not counted (the count would wait for
// the same lock).
const db::JobRecord* WaitingWith(const std::vector<db::JobRecord>& jobs,
                                 const db::ColumnRef& column) {
  for (const db::JobRecord& job : jobs) {
    for (const db::JobColumnProgress& progress : job.columns) {
      if (progress.column == column) return &job;
    }
  }
  return nullptr;
}

Result<json> CollectStatus(db::Store& store) {
  UDMG_ASSIGN_OR_RETURN(auto records, store.LoadKeyring());
  json out;
  out["database"] = store.Describe();
  db::SessionAccess access = store.Access();
  out["session"] = {{"read_only", access.read_only}, {"standby", access.standby}};
  out["initialized"] = records.has_value();
  out["keyring_revision"] = records ? json(records->revision) : json(nullptr);
  out["root_keys"] = json::array();
  out["master_keys"] = json::array();
  out["active_master_version"] = nullptr;
  out["current_root_version"] = nullptr;
  if (records) {
    for (const RootKeyRecord& root : records->roots) {
      bool current = !root.wrapped_key.has_value();
      out["root_keys"].push_back(
          {{"version", root.version}, {"fingerprint", root.fingerprint}, {"current", current}});
      if (current) out["current_root_version"] = root.version;
    }
    for (const MasterKeyRecord& master : records->masters) {
      out["master_keys"].push_back({{"version", master.version},
                                    {"state", MasterKeyStateName(master.state)},
                                    {"root_version", master.root_version}});
      if (master.state == MasterKeyState::kActive) out["active_master_version"] = master.version;
    }
  }
  out["cryptoperiods"] = CryptoperiodsJson(store, records);
  NodeStanding node = CheckThisNode(records);
  out["this_node"] = {{"root_key", node.root_key},
                      {"version", node.version ? json(*node.version) : json(nullptr)},
                      {"fingerprint", OptionalText(node.fingerprint)},
                      {"source", OptionalText(node.source)},
                      {"problem", OptionalText(node.problem)}};
  out["nodes"] = NodesJson(store, records);
  UDMG_ASSIGN_OR_RETURN(std::vector<db::JobRecord> waiting, WaitingJobs(store));
  out["waiting_jobs"] = json::array();
  for (const db::JobRecord& job : waiting) out["waiting_jobs"].push_back(WaitingJobJson(job));
  out["columns"] = json::array();
  UDMG_ASSIGN_OR_RETURN(auto columns, store.ListColumns());
  for (const db::ColumnRef& column : columns) {
    if (const db::JobRecord* job = WaitingWith(waiting, column)) {
      out["columns"].push_back({{"table", column.table},
                                {"column", column.column},
                                {"key_column", column.key_column},
                                {"missing", nullptr},
                                {"not_counted", "job " + std::to_string(job->id) +
                                                    " waits for a lock on it: the count would "
                                                    "wait too"}});
      continue;
    }
    UDMG_ASSIGN_OR_RETURN(pipeline::ColumnValues counted, pipeline::CountColumnValues(store, column));
    if (!counted.counts) {
      out["columns"].push_back({{"table", column.table},
                                {"column", column.column},
                                {"key_column", column.key_column},
                                {"missing", counted.missing}});
      continue;
    }
    const db::ValueCounts& counts = *counted.counts;
    json versions = json::object();
    for (const auto& [version, count] : counts.by_version) {
      versions[std::to_string(version)] = count;
    }
    out["columns"].push_back({{"table", column.table},
                              {"column", column.column},
                              {"key_column", column.key_column},
                              {"versions", versions},
                              {"plaintext", counts.plaintext},
                              {"null", counts.null_values},
                              {"malformed", counts.malformed},
                              {"bound", counts.bound},
                              {"bound_since", column.bound_since ? json(*column.bound_since)
                                                                 : json(nullptr)},
                              {"missing", nullptr}});
  }
  return out;
}

std::string NodeLine(const json& node) {
  std::string standing = node["root_key"];
  if (standing == "missing") return "not set (no " + RootKeySourceChoices() + ")";
  if (standing == "malformed" || standing == "unusable") {
    return standing + ": " + node["problem"].get<std::string>();
  }
  std::string fingerprint = node["fingerprint"].get<std::string>() + ", from " +
                            node["source"].get<std::string>();
  if (standing == "unknown") return "unknown key, fingerprint " + fingerprint;
  std::string version = std::to_string(node["version"].get<uint32_t>());
  if (standing == "current") return "version " + version + " (current), fingerprint " + fingerprint;
  return "older version " + version + ", fingerprint " + fingerprint +
         ": set the current key on this node and restart";
}

void PrintHuman(const json& status) {
  std::cout << "database: " << status["database"].get<std::string>() << "\n";
  if (status["session"]["read_only"].get<bool>()) {
    std::cout << "session: read-only ("
              << (status["session"]["standby"].get<bool>() ? "a hot standby: it may lag the primary"
                                                           : "default_transaction_read_only")
              << "); reads work, commands that write need the primary\n";
  }
  if (!status["initialized"].get<bool>()) {
    std::cout << "keyring: not initialized (run `udmg-server init`)\n";
  } else {
    std::cout << "keyring revision: " << status["keyring_revision"] << "\n"
              << "root keys:\n";
    for (const json& root : status["root_keys"]) {
      std::cout << "  v" << root["version"] << "  fingerprint "
                << root["fingerprint"].get<std::string>()
                << (root["current"].get<bool>() ? "  current" : "") << "\n";
    }
    std::cout << "master keys:\n";
    for (const json& master : status["master_keys"]) {
      std::cout << "  v" << master["version"] << "  " << master["state"].get<std::string>()
                << "  wrapped by root v" << master["root_version"] << "\n";
    }
  }
  if (const json& periods = status["cryptoperiods"]; periods.is_object()) {
    std::cout << "cryptoperiods:\n";
    for (const char* key : {"master_key", "root_key"}) {
      if (periods[key].is_null()) continue;
      std::cout << "  " << (periods[key]["due"].get<bool>() ? "ROTATION DUE: " : "")
                << periods[key]["why"].get<std::string>() << "\n";
    }
  }
  std::cout << "this node's root key: " << NodeLine(status["this_node"]) << "\n";
  if (status["nodes"].is_array() && !status["nodes"].empty()) {
    std::cout << "nodes:\n";
    for (const json& node : status["nodes"]) {
      std::string mark = node["stale"].get<bool>() ? "  STALE: set the current key there and "
                                                      "restart"
                                                    : "";
      std::cout << "  " << node["description"].get<std::string>() << mark << "\n";
    }
  }
  for (const json& job : status["waiting_jobs"]) {
    std::cout << job["kind"].get<std::string>() << " job " << job["job_id"]
              << " (running): " << job["description"].get<std::string>() << "\n";
  }
  if (status["columns"].empty()) std::cout << "columns: none registered\n";
  for (const json& column : status["columns"]) {
    std::cout << "column " << column["table"].get<std::string>() << "."
              << column["column"].get<std::string>() << " (key "
              << column["key_column"].get<std::string>();
    if (!column["missing"].is_null()) {
      std::cout << "): MISSING: " << column["missing"].get<std::string>() << "\n";
      continue;
    }
    if (column.contains("not_counted")) {
      std::cout << "): not counted: " << column["not_counted"].get<std::string>() << "\n";
      continue;
    }
    if (!column["bound_since"].is_null()) {
      std::cout << ", row-bound from v" << column["bound_since"].get<uint32_t>();
    }
    std::cout << "):";
    for (const auto& [version, count] : column["versions"].items()) {
      std::cout << " v" << version << " " << count << ",";
    }
    std::cout << " plaintext " << column["plaintext"] << ", null " << column["null"]
              << ", malformed " << column["malformed"];
    if (!column["bound_since"].is_null()) std::cout << ", bound form " << column["bound"];
    std::cout << "\n";
  }
}

Status RunStatus(const GlobalOptions& global, bool as_json) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(json status, CollectStatus(*store));
  if (as_json) {
    std::cout << status.dump(2) << "\n";
  } else {
    PrintHuman(status);
  }
  return Status::Ok();
}

}  // namespace

void AddStatusCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* status = app.add_subcommand(
      "status", "show the keyring, this node's root key standing and the values per version");
  status->add_flag("--json", *as_json, "print one JSON document");
  status->callback([&, as_json] { action = [&, as_json] { return RunStatus(global, *as_json); }; });
}

}  // namespace udmg::cli
