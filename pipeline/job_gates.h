// The throttle gates an operator sets on a job (docs/reencryption.md, "Throttles"), after
// pt-online-schema-change and gh-ost:
//  - a pause file (--pause-file, gh-ost's --throttle-flag-file): no batch starts while it exists;
//  - a replica lag bound (--max-replica-lag, pt-osc's --max-lag): no batch starts while a
//    PostgreSQL streaming replica lags more than the bound, or while the lag cannot be read.
// A gate pauses the job at a batch boundary; it never stops it (a signal, the stop file and the
// run time still do, see Throttle::WaitForAdmission).
//
// What counts as lag (docs/decisions.md): for each replica in pg_stat_replication, the longer of
// the server's replay_lag and the time since the primary first had WAL that the replica has not
// replayed yet, as seen by the gate's own readings (one a second). replay_lag is the server's
// estimate from the replica's own reports: NULL until it has one, NULL again after the replica
// caught up and went idle, refreshed only when the replica reports; the WAL positions read by the
// job itself do not depend on any of that.
//
// Thread-safety: a gate is asked by its Throttle, one call at a time.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "base/status.h"
#include "db/store.h"
#include "pipeline/nonce_budget.h"
#include "pipeline/throttle.h"

namespace udmg::pipeline {

// Holds while `path` exists (or cannot be checked).
class PauseFileGate final : public ThrottleGate {
 public:
  explicit PauseFileGate(std::string path) : path_(std::move(path)) {}
  ThrottleReason reason() const override { return ThrottleReason::kPauseFile; }
  std::optional<std::string> Hold() override;

 private:
  const std::string path_;
};

// Holds while a streaming replica lags more than `max_lag` (see the file comment), or while the
// lag cannot be read; says why once per cause through `warn`. Reads the replication state at most
// once per `poll_interval` and answers from the last reading in between.
class ReplicaLagGate final : public ThrottleGate {
 public:
  using Reader = std::function<Result<db::ReplicationState>()>;
  ReplicaLagGate(Reader read, Duration max_lag, Clock& clock, WarningSink warn,
                 Duration poll_interval = std::chrono::seconds(1));
  ThrottleReason reason() const override { return ThrottleReason::kReplicaLag; }
  std::optional<std::string> Hold() override;

 private:
  std::optional<std::string> Measure(Duration now);
  Duration TrackedLag(uint64_t replay_lsn, Duration now) const;
  void WarnOnce(const std::string& line);

  const Reader read_;
  const Duration max_lag_;
  Clock& clock_;
  const WarningSink warn_;
  const Duration poll_interval_;
  std::optional<Duration> last_reading_;
  std::optional<std::string> last_hold_;
  // (when, primary WAL position) at each reading where the position moved: increasing both ways.
  std::deque<std::pair<Duration, uint64_t>> samples_;
  std::set<std::string> warned_;
};

struct JobGateOptions {
  std::optional<std::string> pause_file;
  Duration max_replica_lag{0};  // 0: no replica lag gate
  std::string database_url;     // where the replicas are read (the job's database)
};

// kUsage, one line, for --max-replica-lag on a database without replicas (SQLite) or negative.
Status ValidateJobGateOptions(const JobGateOptions& options);

// Adds the gates `options` ask for to `throttle`. The replica lag gate reads on a connection of
// its own; kDatabase when it cannot be opened.
Status AddJobGates(Throttle& throttle, const JobGateOptions& options, Clock& clock,
                   WarningSink warn);

}  // namespace udmg::pipeline
