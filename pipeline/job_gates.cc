#include "pipeline/job_gates.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "db/database_url.h"

namespace udmg::pipeline {
namespace {

// More readings than this (hours at one a second, with a replica stuck all along) are not kept:
// the oldest is dropped, so the lag seen can only be shorter than the truth by then, never longer.
constexpr size_t kMaxSamples = 100'000;

std::string SecondsText(Duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
  return text;
}

}  // namespace

std::optional<std::string> PauseFileGate::Hold() {
  std::error_code error;
  bool exists = std::filesystem::exists(path_, error);
  if (error) return "pause file " + path_ + " cannot be checked (" + error.message() + ")";
  if (exists) return "pause file " + path_ + " exists";
  return std::nullopt;
}

ReplicaLagGate::ReplicaLagGate(Reader read, Duration max_lag, Clock& clock, WarningSink warn,
                               Duration poll_interval)
    : read_(std::move(read)),
      max_lag_(max_lag),
      clock_(clock),
      warn_(std::move(warn)),
      poll_interval_(poll_interval) {}

std::optional<std::string> ReplicaLagGate::Hold() {
  Duration now = clock_.Now();
  if (last_reading_ && now - *last_reading_ < poll_interval_) return last_hold_;
  last_reading_ = now;
  last_hold_ = Measure(now);
  return last_hold_;
}

void ReplicaLagGate::WarnOnce(const std::string& line) {
  if (warned_.insert(line).second && warn_) warn_(line, "max_replica_lag");
}

Duration ReplicaLagGate::TrackedLag(uint64_t replay_lsn, Duration now) const {
  // The first reading at which the primary had WAL past what the replica has replayed.
  for (const auto& [when, lsn] : samples_) {
    if (lsn > replay_lsn) return now - when;
  }
  return Duration::zero();
}

std::optional<std::string> ReplicaLagGate::Measure(Duration now) {
  Result<db::ReplicationState> state = read_();
  if (!state.ok()) {
    WarnOnce("the replica lag limit: the replica lag cannot be read (" + state.error().message +
             "): the job waits until it can");
    return "replica lag cannot be read";
  }
  if (samples_.empty() || state->primary_lsn > samples_.back().second) {
    samples_.emplace_back(now, state->primary_lsn);
    if (samples_.size() > kMaxSamples) samples_.pop_front();
  }
  if (state->replicas.empty()) {
    WarnOnce("the replica lag limit: no streaming replica is connected to this database: the job "
             "does not wait for any");
  }
  std::optional<std::string> hold;
  uint64_t oldest_replayed = state->primary_lsn;
  for (const db::ReplicaPosition& replica : state->replicas) {
    if (!replica.replay_lsn) {
      WarnOnce("the replica lag limit: the position of replica " + replica.name +
               " cannot be read: the database role needs pg_monitor (or pg_read_all_stats) to "
               "see it in pg_stat_replication; the job waits until it can");
      if (!hold) hold = "the lag of replica " + replica.name + " cannot be read";
      continue;
    }
    oldest_replayed = std::min(oldest_replayed, *replica.replay_lsn);
    Duration lag = TrackedLag(*replica.replay_lsn, now);
    if (replica.replay_lag_seconds) {
      lag = std::max(lag, std::chrono::duration_cast<Duration>(
                              std::chrono::duration<double>(*replica.replay_lag_seconds)));
    }
    if (lag > max_lag_ && !hold) {
      hold = "replica " + replica.name + " lags " + SecondsText(lag) +
             ", above the replica lag limit " + SecondsText(max_lag_);
    }
  }
  // Readings no replica is still behind are not needed any more (the newest always stays).
  while (samples_.size() > 1 && samples_.front().second <= oldest_replayed) samples_.pop_front();
  return hold;
}

Status ValidateJobGateOptions(const JobGateOptions& options) {
  if (options.max_replica_lag < Duration::zero()) {
    return Status(ErrorCode::kUsage, "the replica lag limit must not be negative", "max_replica_lag");
  }
  if (options.max_replica_lag > Duration::zero()) {
    UDMG_ASSIGN_OR_RETURN(db::DatabaseUrl url, db::ParseDatabaseUrl(options.database_url));
    if (url.backend != db::Backend::kPostgres) {
      return Status(ErrorCode::kUsage,
                    "the replica lag limit needs a PostgreSQL database: SQLite has no replicas",
                    "max_replica_lag");
    }
  }
  return Status::Ok();
}

Status AddJobGates(Throttle& throttle, const JobGateOptions& options, Clock& clock,
                   WarningSink warn) {
  UDMG_RETURN_IF_ERROR(ValidateJobGateOptions(options));
  if (options.pause_file) throttle.AddGate(std::make_unique<PauseFileGate>(*options.pause_file));
  if (options.max_replica_lag > Duration::zero()) {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> opened,
                          db::OpenStore(options.database_url, db::OpenMode::kExisting));
    std::shared_ptr<db::Store> store(std::move(opened));
    throttle.AddGate(std::make_unique<ReplicaLagGate>(
        [store] { return store->ReadReplication(); }, options.max_replica_lag, clock,
        std::move(warn)));
  }
  return Status::Ok();
}

}  // namespace udmg::pipeline
