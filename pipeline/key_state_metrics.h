// Key state for Prometheus (metrics contract, table "Key state"): values per column and master
// version, stale values per column, the active master and root versions, and the last time a job
// of each kind finished with every value migrated, and each recorded node's root key standing.
// Read from the database only (no K0, no
// decryption): `udmg-server metrics` runs it for cron, a job runs it at its start and its end.
// Never a key byte, a fingerprint or a value: versions and counts only.
//
// Thread-safety: ReadKeyState uses the caller's Store (not thread-safe); KeyStateFamilies is
// pure; KeyStateCollector may be collected from any thread while another thread updates it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "db/store.h"
#include "metrics/metric_family.h"
#include "pipeline/key_policy.h"
#include "pipeline/node_presence.h"

namespace udmg::pipeline {

// The job kinds whose last success is reported ("reencrypt", "sweep").
const std::vector<std::string>& ReportedJobKinds();

struct KeyState {
  std::map<std::string, db::ValueCounts> values;  // by column name, "credentials.secret"
  std::set<std::string> missing_columns;          // registered, but their table or column is gone
  uint32_t active_master_version = 0;             // 0 when the database has no keyring
  uint32_t active_root_version = 0;
  std::map<uint32_t, int64_t> master_created;     // master version -> Unix seconds it was made
  std::map<uint32_t, int64_t> root_created;       // root version -> Unix seconds it was made
  std::map<std::string, int64_t> last_success;    // job kind -> Unix seconds, when known
  std::vector<NodeAssessment> nodes;              // udmg_nodes against the keyring
  std::optional<PolicyStanding> cryptoperiods;    // nullopt without a keyring
};

// How far back ReadKeyState looks for the last "done" job of a kind when the newest finished job
// is "failed" (job rows, each one LoadJob).
inline constexpr int64_t kLastSuccessLookBack = 200;

// Reads the key state (kDatabase on a failed query). A database without a keyring reads as
// versions 0 and no values (the families still appear, so a dashboard shows "nothing yet").
Result<KeyState> ReadKeyState(db::Store& store);

// The contract's key-state families: udmg_key_values{column,version}, udmg_key_values_stale
// {column}, udmg_key_column_missing{column} (1 for a registered column whose table or column is
// gone, 0 for the others), udmg_master_key_active_version, udmg_root_key_active_version,
// udmg_last_success_timestamp_seconds{job} (a series only for kinds with a known success),
// udmg_node_root_key_stale{node,host} (1: older or unknown K0; only nodes seen within
// kNodeGoneAfterSeconds, so a decommissioned node does not alert forever) and
// udmg_node_last_seen_timestamp_seconds{node} (every recorded node),
// udmg_master_key_created_timestamp_seconds{version} and udmg_root_key_created_timestamp_seconds
// {version} (every version the keyring holds; the newest is the active / current one),
// udmg_master_key_encryptions_total{version} (the nonce budget's counts), the policy's limits
// udmg_key_policy_max_age_seconds{key} and udmg_master_key_policy_max_encryptions (0: no limit)
// and udmg_key_rotation_overdue{key} (1 when a limit is reached); these three only with a
// keyring.
// With `include_last_success` false the last family is left out (a failed run's push must not
// replace the previous success: Pushgateway add semantics).
std::vector<metrics::MetricFamily> KeyStateFamilies(const KeyState& state,
                                                    bool include_last_success = true);

// ReadKeyState + KeyStateFamilies, for the `metrics` command.
Result<std::vector<metrics::MetricFamily>> KeyStateMetrics(db::Store& store);

// The key state as a Collectable: the last state given to Update, collected on each scrape.
class KeyStateCollector final : public metrics::Collectable {
 public:
  void Update(KeyState state);
  // Records that this process's run of `kind`, started at `run_started`, just finished with every
  // value migrated: at the time its job row was marked done when the last Update showed a
  // success since `run_started` (one time for the run, whichever output shows it), else at
  // `now` (a sweep with nothing to do leaves no job row, yet it succeeded).
  void RecordSuccess(const std::string& kind, int64_t run_started, int64_t now);
  // `count` values of `column` were just moved to the active master version by the running job:
  // udmg_key_values follows the job's batches without a count in the database. They are taken
  // from the oldest versions first (then plaintext): exact when the stale values sit on one
  // version, and the next Update (at the end of the run) replaces the estimate with the count.
  void RecordMigrated(const std::string& column, uint64_t count);
  // Leaves udmg_last_success_timestamp_seconds out of Collect (see KeyStateFamilies).
  void SetIncludeLastSuccess(bool include);
  std::vector<metrics::MetricFamily> Collect() const override;

 private:
  mutable base::Mutex mutex_;
  KeyState state_ GUARDED_BY(mutex_);
  bool include_last_success_ GUARDED_BY(mutex_) = true;
};

}  // namespace udmg::pipeline
