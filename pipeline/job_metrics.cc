#include "pipeline/job_metrics.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace udmg::pipeline {
namespace {

using metrics::ClientMetric;
using metrics::MetricFamily;
using metrics::MetricType;

double UnixNowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

// One series; labels given in name order (the exposition sorts them anyway).
void AddSeries(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  std::sort(labels.begin(), labels.end());
  metric.label = std::move(labels);
  if (family.type == MetricType::kCounter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace

std::string_view JobRunStateName(JobRunState state) {
  switch (state) {
    case JobRunState::kRunning: return "running";
    case JobRunState::kPaused: return "paused";
    case JobRunState::kDone: return "done";
    case JobRunState::kStopped: return "stopped";
    case JobRunState::kFailed: return "failed";
  }
  return "failed";
}

JobRunState FinalRunState(const ReencryptReport& report) {
  switch (report.outcome) {
    case ReencryptOutcome::kDone:
      return report.unmigratable == 0 ? JobRunState::kDone : JobRunState::kFailed;
    case ReencryptOutcome::kStopped:
    case ReencryptOutcome::kPassesExhausted:
      return JobRunState::kStopped;
    case ReencryptOutcome::kMaxFailures:
    case ReencryptOutcome::kError:
      return JobRunState::kFailed;
  }
  return JobRunState::kFailed;
}

JobMetrics::JobMetrics(std::string job_kind, const Throttle* throttle, size_t batch_size)
    : job_(std::move(job_kind)),
      throttle_(throttle),
      batch_size_(batch_size),
      start_time_(UnixNowSeconds()) {}

Result<std::unique_ptr<JobMetrics>> JobMetrics::Create(metrics::Registry& registry,
                                                       std::string job_kind,
                                                       const std::vector<std::string>& columns,
                                                       const Throttle* throttle,
                                                       size_t batch_size) {
  std::unique_ptr<JobMetrics> created(new JobMetrics(std::move(job_kind), throttle, batch_size));
  UDMG_ASSIGN_OR_RETURN(
      created->rows_, metrics::BuildCounter()
                      .Name("udmg_reencrypt_rows_total")
                      .Help("Rows handled by this process, by column and result (migrated, "
                            "conflict: a concurrent writer won, failed: does not decrypt).")
                      .Register(registry));
  UDMG_ASSIGN_OR_RETURN(
      created->failures_, metrics::BuildCounter()
                          .Name("udmg_reencrypt_failures_total")
                          .Help("Values this run recorded in udmg_reencrypt_failures (they do "
                                "not decrypt and were left as they are).")
                          .Register(registry));
  UDMG_ASSIGN_OR_RETURN(metrics::Family<metrics::Counter> * batches,
                        metrics::BuildCounter()
                            .Name("udmg_reencrypt_batches_total")
                            .Help("Batches committed by this process.")
                            .Register(registry));
  UDMG_ASSIGN_OR_RETURN(metrics::Family<metrics::Histogram> * durations,
                        metrics::BuildHistogram()
                            .Name("udmg_reencrypt_batch_duration_seconds")
                            .Help("Time per committed batch in each stage: fetch (the read), "
                                  "crypto (decrypt and encrypt), write (compare-and-swap).")
                            .Register(registry));
  const std::string& job = created->job_;
  created->batches_ = &batches->Add({{"job", job}});
  const auto& buckets = metrics::BatchDurationBuckets();
  created->fetch_seconds_ = &durations->Add({{"job", job}, {"stage", "fetch"}}, buckets);
  created->crypto_seconds_ = &durations->Add({{"job", job}, {"stage", "crypto"}}, buckets);
  created->write_seconds_ = &durations->Add({{"job", job}, {"stage", "write"}}, buckets);
  base::MutexLock lock(created->mutex_);
  for (const std::string& column : columns) created->CountersFor(column);
  return created;
}

JobMetrics::ColumnCounters& JobMetrics::CountersFor(const std::string& column) {
  auto found = columns_.find(column);
  if (found != columns_.end()) return found->second;
  ColumnCounters& counters = columns_[column];
  auto row = [&](const char* result) {
    return &rows_->Add({{"job", job_}, {"column", column}, {"result", result}});
  };
  counters.migrated = row("migrated");
  counters.conflict = row("conflict");
  counters.failed = row("failed");
  counters.failures = &failures_->Add({{"job", job_}, {"column", column}});
  return counters;
}

ReencryptHooks JobMetrics::Wrap(ReencryptHooks hooks) {
  hooks.after_commit = [this, next = std::move(hooks.after_commit)](const BatchCommitted& batch) {
    if (next) next(batch);
    OnBatchCommitted(batch);
  };
  hooks.on_progress = [this, next = std::move(hooks.on_progress)](const ProgressSnapshot& s) {
    if (next) next(s);
    OnProgress(s);
  };
  return hooks;
}

void JobMetrics::OnBatchCommitted(const BatchCommitted& batch) {
  batches_->Increment();
  fetch_seconds_->Observe(Seconds(batch.fetch_time));
  crypto_seconds_->Observe(Seconds(batch.crypto_time));
  write_seconds_->Observe(Seconds(batch.write_time));
}

void JobMetrics::OnProgress(const ProgressSnapshot& snapshot) {
  {
    base::MutexLock lock(mutex_);
    // The snapshot's counts are the run's totals: what changed since the last one belongs to the
    // column being scanned (the final snapshot names none and normally changes nothing).
    if (!snapshot.column.empty()) last_column_ = snapshot.column;
    RunTotals now{snapshot.migrated, snapshot.conflicts, snapshot.failed};
    if (!last_column_.empty()) {
      ColumnCounters& counters = CountersFor(last_column_);
      auto delta = [](uint64_t after, uint64_t before) {
        return static_cast<double>(after > before ? after - before : 0);
      };
      const double migrated = delta(now.migrated, seen_.migrated);
      counters.migrated->Increment(migrated);
      if (migrated > 0 && on_migrated_) {
        on_migrated_(last_column_, static_cast<uint64_t>(migrated));
      }
      counters.conflict->Increment(delta(now.conflicts, seen_.conflicts));
      double failed = delta(now.failed, seen_.failed);
      counters.failed->Increment(failed);
      counters.failures->Increment(failed);
    }
    seen_ = now;
  }
  total_.store(snapshot.total);
  done_.store(snapshot.done);
  progress_known_.store(true);
}

JobRunState JobMetrics::state() const {
  JobRunState state = state_.load();
  if (state == JobRunState::kRunning && throttle_) {
    // An operator's pause: manual, or the pause file. A lagging replica is not one: the job
    // stays "running", so that a lag that never ends shows as a stalled job.
    ThrottleStats stats = throttle_->Stats();
    bool pause_file = stats.hold && stats.hold_reason == ThrottleReason::kPauseFile;
    if (stats.paused || pause_file) return JobRunState::kPaused;
  }
  return state;
}

std::vector<MetricFamily> JobMetrics::Collect() const {
  const std::vector<ClientMetric::Label> job{{"job", job_}};
  ThrottleStats stats;
  if (throttle_) stats = throttle_->Stats();
  std::vector<MetricFamily> families;

  // Until the run has counted its stale rows there is no figure, rather than a wrong 0.
  if (progress_known_.load()) {
    uint64_t total = total_.load();
    uint64_t done = done_.load();
    MetricFamily remaining = Family("udmg_reencrypt_rows_remaining",
                                    "Rows still stale for this run (total - done).",
                                    MetricType::kGauge);
    AddSeries(remaining, job, static_cast<double>(total > done ? total - done : 0));
    families.push_back(std::move(remaining));
    MetricFamily ratio = Family("udmg_reencrypt_progress_ratio",
                                "Progress of this run, done / total, 0..1 (1 when nothing to do).",
                                MetricType::kGauge);
    double progress = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / total);
    AddSeries(ratio, job, progress);
    families.push_back(std::move(ratio));
  }

  MetricFamily in_flight = Family("udmg_reencrypt_batches_in_flight",
                                  "Batches between fetch and commit now.", MetricType::kGauge);
  AddSeries(in_flight, job, static_cast<double>(std::max<int64_t>(0, in_flight_.load())));
  families.push_back(std::move(in_flight));

  MetricFamily rate = Family("udmg_reencrypt_throttle_rows_per_second",
                             "Current rate limit in rows per second, 0 = unlimited.",
                             MetricType::kGauge);
  AddSeries(rate, job, stats.rows_per_second);
  families.push_back(std::move(rate));
  MetricFamily batch_size = Family("udmg_reencrypt_batch_size_rows",
                                   "Current batch size in rows.", MetricType::kGauge);
  AddSeries(batch_size, job,
            static_cast<double>(throttle_ ? stats.batch_size : batch_size_));
  families.push_back(std::move(batch_size));

  MetricFamily throttled = Family("udmg_reencrypt_throttled_seconds_total",
                                  "Seconds this run waited, by reason (rate limit, write "
                                  "latency, manual pause).",
                                  MetricType::kCounter);
  for (size_t reason = 0; reason < kThrottleReasonCount; ++reason) {
    auto labels = job;
    labels.push_back(
        {"reason", std::string(ThrottleReasonName(static_cast<ThrottleReason>(reason)))});
    AddSeries(throttled, std::move(labels), stats.throttled_seconds[reason]);
  }
  families.push_back(std::move(throttled));

  // PostgreSQL only; 0 on SQLite and whenever no statement waits on a lock.
  const LockWaitBoard* board = lock_waits_.load();
  std::optional<LockWait> wait = board ? board->Get() : std::nullopt;
  MetricFamily wait_seconds = Family("udmg_reencrypt_lock_wait_seconds",
                                     "Seconds a statement of this run has waited on a lock held "
                                     "by another session, 0 when none waits.",
                                     MetricType::kGauge);
  AddSeries(wait_seconds, job, wait ? wait->waited_seconds : 0.0);
  families.push_back(std::move(wait_seconds));
  MetricFamily blocker = Family("udmg_reencrypt_lock_blocking_pid",
                                "PostgreSQL backend pid holding the lock a statement of this run "
                                "waits on (the lowest, when several), 0 when none waits.",
                                MetricType::kGauge);
  AddSeries(blocker, job, wait ? static_cast<double>(wait->blocking_pids.front()) : 0.0);
  families.push_back(std::move(blocker));

  MetricFamily state = Family("udmg_reencrypt_job_state",
                              "1 for the run's current state (running, paused, done, stopped: "
                              "resumable, failed), 0 for the others.",
                              MetricType::kGauge);
  JobRunState current = this->state();
  for (size_t i = 0; i < kJobRunStateCount; ++i) {
    auto labels = job;
    labels.push_back({"state", std::string(JobRunStateName(static_cast<JobRunState>(i)))});
    AddSeries(state, std::move(labels), static_cast<JobRunState>(i) == current ? 1.0 : 0.0);
  }
  families.push_back(std::move(state));

  MetricFamily started = Family("udmg_reencrypt_job_start_timestamp_seconds",
                                "Unix time this run started.", MetricType::kGauge);
  AddSeries(started, job, start_time_);
  families.push_back(std::move(started));
  return families;
}

}  // namespace udmg::pipeline
