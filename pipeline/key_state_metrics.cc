#include "pipeline/key_state_metrics.h"

#include <algorithm>
#include <ctime>
#include <utility>

#include "pipeline/job_state.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {
namespace {

using metrics::ClientMetric;
using metrics::MetricFamily;
using metrics::MetricType;

MetricFamily Family(std::string name, std::string help) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = MetricType::kGauge;
  return family;
}

void AddSeries(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  std::sort(labels.begin(), labels.end());
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

uint64_t StaleCount(const db::ValueCounts& counts, uint32_t active) {
  uint64_t stale = counts.plaintext + counts.malformed;
  for (const auto& [version, count] : counts.by_version) {
    if (version != active) stale += count;
  }
  return stale;
}

// The newest job of `kind` that ended "done". FindLatestFinishedJob returns the newest "done" or
// "failed"; behind a "failed" one the earlier jobs are looked at one by one (a bounded walk).
Result<std::optional<int64_t>> LastSuccess(db::Store& store, const std::string& kind) {
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> latest, store.FindLatestFinishedJob(kind));
  if (!latest) return std::optional<int64_t>();
  if (latest->state == db::JobState::kDone) return std::optional<int64_t>(latest->updated_at);
  for (int64_t id = latest->id - 1; id > 0 && id >= latest->id - kLastSuccessLookBack; --id) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.LoadJob(id));
    if (job && job->kind == kind && job->state == db::JobState::kDone) {
      return std::optional<int64_t>(job->updated_at);
    }
  }
  return std::optional<int64_t>();
}

}  // namespace

const std::vector<std::string>& ReportedJobKinds() {
  static const std::vector<std::string> kinds{std::string(kReencryptJobKind),
                                              std::string(kSweepJobKind)};
  return kinds;
}

Result<KeyState> ReadKeyState(db::Store& store) {
  KeyState state;
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> keyring, store.LoadKeyring());
  if (keyring) {
    if (const MasterKeyRecord* active = ActiveMaster(*keyring)) {
      state.active_master_version = active->version;
    }
    if (const RootKeyRecord* current = CurrentRoot(*keyring)) {
      state.active_root_version = current->version;
    }
    for (const MasterKeyRecord& master : keyring->masters) {
      state.master_created[master.version] = master.created_at;
    }
    for (const RootKeyRecord& root : keyring->roots) {
      state.root_created[root.version] = root.created_at;
    }
  }
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  for (const db::ColumnRef& column : columns) {
    UDMG_ASSIGN_OR_RETURN(ColumnValues counted, CountColumnValues(store, column));
    if (counted.counts) {
      state.values[column.Name()] = *counted.counts;
    } else {
      state.missing_columns.insert(column.Name());
    }
  }
  for (const std::string& kind : ReportedJobKinds()) {
    UDMG_ASSIGN_OR_RETURN(std::optional<int64_t> success, LastSuccess(store, kind));
    if (success) state.last_success[kind] = *success;
  }
  if (keyring) {
    UDMG_ASSIGN_OR_RETURN(std::vector<db::NodeRecord> nodes, store.ListNodes());
    const auto now = static_cast<int64_t>(std::time(nullptr));
    state.nodes = AssessNodes(nodes, *keyring, now);
    UDMG_ASSIGN_OR_RETURN(state.cryptoperiods, AssessPolicy(store, *keyring, now));
  }
  return state;
}

std::vector<MetricFamily> KeyStateFamilies(const KeyState& state, bool include_last_success) {
  MetricFamily values = Family(
      "udmg_key_values", "Stored values per registered column and master key version "
                         "(plaintext: not an envelope; malformed: a broken envelope).");
  MetricFamily stale = Family("udmg_key_values_stale",
                              "Values per column not under the active master key version "
                              "(plaintext and malformed included).");
  MetricFamily bound = Family("udmg_key_values_bound",
                              "Values per column in the row-bound envelope form udmg:b<N>: "
                              "(counted in udmg_key_values too).");
  for (const auto& [column, counts] : state.values) {
    for (const auto& [version, count] : counts.by_version) {
      AddSeries(values, {{"column", column}, {"version", std::to_string(version)}},
                static_cast<double>(count));
    }
    AddSeries(values, {{"column", column}, {"version", "plaintext"}},
              static_cast<double>(counts.plaintext));
    AddSeries(values, {{"column", column}, {"version", "malformed"}},
              static_cast<double>(counts.malformed));
    AddSeries(stale, {{"column", column}},
              static_cast<double>(StaleCount(counts, state.active_master_version)));
    AddSeries(bound, {{"column", column}}, static_cast<double>(counts.bound));
  }
  MetricFamily missing = Family("udmg_key_column_missing",
                                "1 for a registered column whose table or column no longer "
                                "exists (dropped or renamed): restore it or `columns remove` it.");
  for (const auto& [column, counts] : state.values) AddSeries(missing, {{"column", column}}, 0.0);
  for (const std::string& column : state.missing_columns) {
    AddSeries(missing, {{"column", column}}, 1.0);
  }
  MetricFamily master = Family("udmg_master_key_active_version",
                               "Version of the active master key (K1); 0 before init.");
  AddSeries(master, {}, state.active_master_version);
  MetricFamily root = Family("udmg_root_key_active_version",
                             "Version of the current root key (K0); 0 before init.");
  AddSeries(root, {}, state.active_root_version);

  MetricFamily master_created = Family(
      "udmg_master_key_created_timestamp_seconds",
      "Unix time each master key (K1) version was made; the newest is the active one.");
  for (const auto& [version, seconds] : state.master_created) {
    AddSeries(master_created, {{"version", std::to_string(version)}}, static_cast<double>(seconds));
  }
  MetricFamily root_created = Family(
      "udmg_root_key_created_timestamp_seconds",
      "Unix time each root key (K0) version was made current; the newest is the current one.");
  for (const auto& [version, seconds] : state.root_created) {
    AddSeries(root_created, {{"version", std::to_string(version)}}, static_cast<double>(seconds));
  }

  MetricFamily encryptions =
      Family("udmg_master_key_encryptions_total",
             "Encryptions made under each master key (K1) version, every node's together (the GCM "
             "nonce budget's count).");
  encryptions.type = MetricType::kCounter;
  MetricFamily max_age = Family("udmg_key_policy_max_age_seconds",
                                "The policy's maximum age of the key in use (`policy set`); 0 = "
                                "no limit.");
  MetricFamily max_encryptions = Family(
      "udmg_master_key_policy_max_encryptions",
      "The policy's maximum number of encryptions under the active master key; 0 = no limit.");
  MetricFamily overdue = Family("udmg_key_rotation_overdue",
                                "1 when the key in use has reached a limit of the policy and is "
                                "due for rotation, else 0.");
  if (const std::optional<PolicyStanding>& periods = state.cryptoperiods) {
    for (const auto& [version, count] : periods->encryptions) {
      ClientMetric metric;
      metric.label = {{"version", std::to_string(version)}};
      metric.counter.value = static_cast<double>(count);
      encryptions.metric.push_back(std::move(metric));
    }
    for (const auto& [key, due] :
         {std::pair{"master", periods->master}, std::pair{"root", periods->root}}) {
      if (!due) continue;
      AddSeries(max_age, {{"key", key}}, static_cast<double>(due->max_age.value_or(0)));
      AddSeries(overdue, {{"key", key}}, due->due ? 1.0 : 0.0);
    }
    AddSeries(max_encryptions, {},
              static_cast<double>(periods->policy.master_max_encryptions.value_or(0)));
  }

  MetricFamily node_stale = Family(
      "udmg_node_root_key_stale",
      "1 when the node last opened the keyring with an older or unknown root key (K0), 0 when "
      "current; nodes not seen for 7 days are left out.");
  MetricFamily node_seen = Family("udmg_node_last_seen_timestamp_seconds",
                                  "Unix time the node last opened the keyring.");
  for (const NodeAssessment& node : state.nodes) {
    AddSeries(node_seen, {{"node", node.node.node_id}}, static_cast<double>(node.node.last_seen));
    if (node.gone) continue;
    AddSeries(node_stale, {{"node", node.node.node_id}, {"host", node.node.host}},
              node.stale() ? 1.0 : 0.0);
  }

  std::vector<MetricFamily> families;
  families.push_back(std::move(values));
  families.push_back(std::move(stale));
  families.push_back(std::move(bound));
  families.push_back(std::move(missing));
  families.push_back(std::move(master));
  families.push_back(std::move(root));
  families.push_back(std::move(master_created));
  families.push_back(std::move(root_created));
  families.push_back(std::move(encryptions));
  families.push_back(std::move(max_age));
  families.push_back(std::move(max_encryptions));
  families.push_back(std::move(overdue));
  families.push_back(std::move(node_stale));
  families.push_back(std::move(node_seen));
  if (include_last_success) {
    MetricFamily success = Family("udmg_last_success_timestamp_seconds",
                                  "Unix time the last job of this kind finished with every "
                                  "value migrated.");
    for (const auto& [kind, seconds] : state.last_success) {
      AddSeries(success, {{"job", kind}}, static_cast<double>(seconds));
    }
    families.push_back(std::move(success));
  }
  return families;
}

Result<std::vector<MetricFamily>> KeyStateMetrics(db::Store& store) {
  UDMG_ASSIGN_OR_RETURN(KeyState state, ReadKeyState(store));
  return KeyStateFamilies(state);
}

void KeyStateCollector::Update(KeyState state) {
  base::MutexLock lock(mutex_);
  // A success this process recorded is newer than what the database may show (an idle sweep).
  for (const auto& [kind, seconds] : state_.last_success) {
    int64_t& known = state.last_success[kind];
    known = std::max(known, seconds);
  }
  state_ = std::move(state);
}

void KeyStateCollector::RecordSuccess(const std::string& kind, int64_t run_started, int64_t now) {
  base::MutexLock lock(mutex_);
  int64_t& known = state_.last_success[kind];
  if (known < run_started) known = std::max(known, now);
}

void KeyStateCollector::RecordMigrated(const std::string& column, uint64_t count) {
  base::MutexLock lock(mutex_);
  auto found = state_.values.find(column);
  if (found == state_.values.end() || state_.active_master_version == 0) return;
  db::ValueCounts& counts = found->second;
  const uint32_t active = state_.active_master_version;
  uint64_t moved = 0;
  auto take = [&](uint64_t& from) {
    const uint64_t taken = std::min(from, count - moved);
    from -= taken;
    moved += taken;
  };
  for (auto& [version, on_version] : counts.by_version) {
    if (version != active) take(on_version);
  }
  take(counts.plaintext);
  counts.by_version[active] += moved;
}

void KeyStateCollector::SetIncludeLastSuccess(bool include) {
  base::MutexLock lock(mutex_);
  include_last_success_ = include;
}

std::vector<MetricFamily> KeyStateCollector::Collect() const {
  base::MutexLock lock(mutex_);
  return KeyStateFamilies(state_, include_last_success_);
}

}  // namespace udmg::pipeline
