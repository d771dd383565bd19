#include "cli/json_reports.h"

#include <chrono>
#include <iostream>
#include <string>

namespace udmg::cli {
namespace {

using nlohmann::json;

json Counts(uint64_t migrated, uint64_t conflicts, uint64_t failed, uint64_t remaining) {
  return {{"migrated", migrated}, {"conflicts", conflicts}, {"failed", failed},
          {"remaining", remaining}};
}

// Maps keyed by version: JSON object keys are strings ("1", "2").
template <typename Value, typename Render>
json ByVersion(const std::map<uint32_t, Value>& values, Render render) {
  json object = json::object();
  for (const auto& [version, value] : values) object[std::to_string(version)] = render(value);
  return object;
}

template <typename T>
json OrNull(const std::optional<T>& value) {
  return value ? json(*value) : json();
}

json KeyDueJson(const std::optional<KeyDue>& key) {
  if (!key) return json();
  return {{"version", key->version},
          {"age_seconds", key->age},
          {"encryptions", OrNull(key->encryptions)},
          {"max_age_seconds", OrNull(key->max_age)},
          {"max_encryptions", OrNull(key->max_encryptions)},
          {"due", key->due},
          {"why", key->why}};
}

}  // namespace

json ReencryptJson(const pipeline::ReencryptReport& report) {
  json columns = json::array();
  for (const pipeline::ColumnReport& column : report.columns) {
    json entry = Counts(column.migrated, column.conflicts, column.failed, column.remaining);
    entry["column"] = column.column.Name();
    entry["unmigratable"] = column.unmigratable;
    entry["unaddressable"] = column.unaddressable;
    entry["passes"] = column.passes;
    columns.push_back(std::move(entry));
  }
  json document = Counts(report.migrated, report.conflicts, report.failed, report.remaining);
  document["job_id"] = report.job_id;
  document["resumed"] = report.resumed;
  document["target_version"] = report.target_version;
  document["outcome"] = pipeline::ReencryptOutcomeName(report.outcome);
  document["unmigratable"] = report.unmigratable;
  document["unaddressable"] = report.unaddressable;
  document["batches"] = report.batches;
  document["elapsed_seconds"] = std::chrono::duration<double>(report.elapsed).count();
  document["columns"] = std::move(columns);
  return document;
}

json SweepJson(const pipeline::SweepReport& report) {
  json columns = json::array();
  for (const pipeline::SweepColumnReport& column : report.columns) {
    json entry = Counts(column.migrated, column.conflicts, column.failed, column.remaining);
    entry["column"] = column.column.Name();
    columns.push_back(std::move(entry));
  }
  json failures = json::array();
  for (const pipeline::SweepFailure& failure : report.failures) {
    failures.push_back({{"column", failure.column.Name()},
                        {"key", db::RowKeyText(failure.key)},
                        {"version", failure.version},
                        {"class", failure.error_class}});
  }
  json document = Counts(report.migrated, report.conflicts, report.failed, report.remaining);
  document["job_id"] = report.job_id;
  document["target_version"] = report.target_version;
  document["outcome"] = pipeline::SweepStopName(report.stop);
  document["columns"] = std::move(columns);
  document["failures"] = std::move(failures);
  return document;
}

json VerifyJson(const pipeline::VerifyReport& report) {
  json columns = json::array();
  for (const pipeline::ColumnVerification& column : report.columns) {
    columns.push_back(
        {{"column", column.column.Name()},
         {"ok", column.ok()},
         {"ok_by_version", ByVersion(column.ok_by_version, [](uint64_t count) { return count; })},
         {"plaintext", column.plaintext},
         {"failed", column.failed()},
         // Version "0": envelopes too malformed to name a version.
         {"failed_by_version",
          ByVersion(column.failed_by_version,
                    [](const pipeline::VersionFailures& failures) {
                      json keys = json::array();
                      for (const db::RowKey& key : failures.example_keys) {
                        keys.push_back(db::RowKeyText(key));
                      }
                      return json{{"count", failures.count},
                                  {"by_class", failures.by_class},
                                  {"example_keys", std::move(keys)}};
                    })},
         {"unaddressable", column.unaddressable}});
  }
  return {{"ok", report.ok()},
          {"plaintext", report.plaintext()},
          {"failed", report.failed()},
          {"unaddressable", report.unaddressable()},
          {"columns", std::move(columns)}};
}

json ColumnsJson(const std::vector<db::ColumnRef>& columns) {
  json list = json::array();
  for (const db::ColumnRef& column : columns) {
    list.push_back({{"column", column.Name()},
                    {"table", column.table},
                    {"name", column.column},
                    {"key_column", column.key_column},
                    {"bound_since", column.bound_since ? json(*column.bound_since) : json()}});
  }
  return {{"columns", std::move(list)}};
}

json PolicyJson(const pipeline::PolicyStanding& standing) {
  const KeyPolicy& policy = standing.policy;
  return {{"policy",
           {{"master_max_age_seconds", OrNull(policy.master_max_age)},
            {"master_max_encryptions", OrNull(policy.master_max_encryptions)},
            {"root_max_age_seconds", OrNull(policy.root_max_age)}}},
          {"master_key", KeyDueJson(standing.master)},
          {"root_key", KeyDueJson(standing.root)},
          {"overdue", standing.overdue()}};
}

void PrintJson(const json& document) {
  std::cout << document.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace udmg::cli
