// JobMetrics and the key-state families without a binary or a database: the per-column counts
// come from the differences between successive progress snapshots, the scrape-time gauges follow
// the throttle, the job state maps the run's outcome, and stale values include plaintext and
// malformed ones.
#include "pipeline/job_metrics.h"

#include <gtest/gtest.h>

#include "metrics/text_serializer.h"
#include "pipeline/key_state_metrics.h"

namespace udmg::pipeline {
namespace {

std::optional<double> Sample(const std::string& exposition, const std::string& series) {
  size_t at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(exposition.substr(at + series.size() + 2));
}

class JobMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ThrottleOptions options;
    options.rows_per_second = 250;
    options.batch_size = 40;
    throttle_ = std::move(*Throttle::Create(options, clock_));
    auto created = JobMetrics::Create(registry_, "reencrypt", {"a.x", "b.y"}, throttle_.get(),
                                      40);
    ASSERT_TRUE(created.ok()) << created.error().message;
    job_ = std::move(*created);
  }
  std::string Exposition() const {
    std::vector<metrics::MetricFamily> families = registry_.Collect();
    for (auto& family : job_->Collect()) families.push_back(std::move(family));
    return "\n" + metrics::TextSerializer().Serialize(families);
  }
  static ProgressSnapshot Snapshot(const std::string& column, uint64_t migrated,
                                   uint64_t conflicts, uint64_t failed, uint64_t total) {
    ProgressSnapshot snapshot;
    snapshot.column = column;
    snapshot.migrated = migrated;
    snapshot.conflicts = conflicts;
    snapshot.failed = failed;
    snapshot.done = migrated + conflicts + failed;
    snapshot.total = total;
    return snapshot;
  }

  ManualClock clock_;
  std::unique_ptr<Throttle> throttle_;
  metrics::Registry registry_;
  std::unique_ptr<JobMetrics> job_;
};

TEST_F(JobMetricsTest, ZeroSeriesForEveryColumnBeforeTheFirstBatch) {
  std::string text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="b.y",job="reencrypt",result="conflict"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_failures_total{column="a.x",job="reencrypt"})"), 0.0);
  // Not counted yet: no remaining or progress figure rather than a wrong 0.
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_remaining{job="reencrypt"})"), std::nullopt);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_progress_ratio{job="reencrypt"})"), std::nullopt);
  // The run's first snapshot, before its first batch, brings the total.
  ReencryptHooks hooks = job_->Wrap({});
  hooks.on_progress(Snapshot("a.x", 0, 0, 0, 90));
  text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_remaining{job="reencrypt"})"), 90.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_progress_ratio{job="reencrypt"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="a.x",job="reencrypt",result="migrated"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_job_state{job="reencrypt",state="running"})"), 1.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})"), 250.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_size_rows{job="reencrypt"})"), 40.0);
}

TEST_F(JobMetricsTest, SnapshotDifferencesGoToTheColumnBeingScanned) {
  ReencryptHooks hooks = job_->Wrap({});
  hooks.on_progress(Snapshot("a.x", 30, 1, 0, 90));
  hooks.on_progress(Snapshot("a.x", 50, 1, 2, 90));
  hooks.on_progress(Snapshot("b.y", 70, 3, 2, 90));
  hooks.on_progress(Snapshot("", 70, 3, 2, 90));  // the final snapshot names no column
  std::string text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="a.x",job="reencrypt",result="migrated"})"), 50.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="a.x",job="reencrypt",result="failed"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_failures_total{column="a.x",job="reencrypt"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="b.y",job="reencrypt",result="migrated"})"), 20.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_total{column="b.y",job="reencrypt",result="conflict"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_rows_remaining{job="reencrypt"})"), 15.0);
  EXPECT_NEAR(*Sample(text, R"(udmg_reencrypt_progress_ratio{job="reencrypt"})"), 75.0 / 90, 1e-9);
}

TEST_F(JobMetricsTest, BatchesAndStageDurationsMoveOncePerCommittedBatch) {
  ReencryptHooks hooks = job_->Wrap({});
  BatchCommitted batch;
  batch.rows = 40;
  batch.fetch_time = std::chrono::milliseconds(3);
  batch.crypto_time = std::chrono::milliseconds(20);
  batch.write_time = std::chrono::seconds(2);
  hooks.after_commit(batch);
  hooks.after_commit(batch);
  std::string text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batches_total{job="reencrypt"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_duration_seconds_bucket{job="reencrypt",stage="fetch",le="0.0025"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_duration_seconds_bucket{job="reencrypt",stage="fetch",le="0.005"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_duration_seconds_bucket{job="reencrypt",stage="crypto",le="0.025"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_duration_seconds_bucket{job="reencrypt",stage="write",le="1"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_duration_seconds_count{job="reencrypt",stage="write"})"), 2.0);
}

TEST_F(JobMetricsTest, ScrapeTimeGaugesFollowTheThrottleAndTheState) {
  throttle_->Pause();
  ASSERT_TRUE(throttle_->SetRowsPerSecond(1000).ok());
  ASSERT_TRUE(throttle_->SetBatchSize(70).ok());
  job_->batches_in_flight()->fetch_add(3);
  std::string text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_job_state{job="reencrypt",state="paused"})"), 1.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_job_state{job="reencrypt",state="running"})"), 0.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})"), 1000.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batch_size_rows{job="reencrypt"})"), 70.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_batches_in_flight{job="reencrypt"})"), 3.0);
  job_->SetState(JobRunState::kStopped);
  text = Exposition();
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_job_state{job="reencrypt",state="stopped"})"), 1.0);
  EXPECT_EQ(Sample(text, R"(udmg_reencrypt_job_state{job="reencrypt",state="paused"})"), 0.0);
}

TEST(FinalRunStateTest, OutcomesMapToTheContractStates) {
  ReencryptReport report;
  EXPECT_EQ(FinalRunState(report), JobRunState::kDone);
  report.unmigratable = 1;
  EXPECT_EQ(FinalRunState(report), JobRunState::kFailed);
  report.outcome = ReencryptOutcome::kStopped;
  EXPECT_EQ(FinalRunState(report), JobRunState::kStopped);
  report.outcome = ReencryptOutcome::kPassesExhausted;
  EXPECT_EQ(FinalRunState(report), JobRunState::kStopped);
  report.outcome = ReencryptOutcome::kMaxFailures;
  EXPECT_EQ(FinalRunState(report), JobRunState::kFailed);
  report.outcome = ReencryptOutcome::kError;
  EXPECT_EQ(FinalRunState(report), JobRunState::kFailed);
  EXPECT_EQ(JobRunStateName(JobRunState::kPaused), "paused");
}

TEST(KeyStateFamiliesTest, StaleCountsPlaintextMalformedAndOlderVersions) {
  KeyState state;
  state.active_master_version = 3;
  state.active_root_version = 2;
  db::ValueCounts counts;
  counts.by_version = {{1, 4}, {3, 10}};
  counts.plaintext = 2;
  counts.malformed = 1;
  state.values["credentials.secret"] = counts;
  state.last_success["sweep"] = 1700000000;
  std::string text = "\n" + metrics::TextSerializer().Serialize(KeyStateFamilies(state));
  EXPECT_EQ(Sample(text, R"(udmg_key_values{column="credentials.secret",version="1"})"), 4.0);
  EXPECT_EQ(Sample(text, R"(udmg_key_values{column="credentials.secret",version="plaintext"})"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_key_values{column="credentials.secret",version="malformed"})"), 1.0);
  EXPECT_EQ(Sample(text, R"(udmg_key_values_stale{column="credentials.secret"})"), 7.0);
  EXPECT_EQ(Sample(text, "udmg_master_key_active_version"), 3.0);
  EXPECT_EQ(Sample(text, "udmg_root_key_active_version"), 2.0);
  EXPECT_EQ(Sample(text, R"(udmg_last_success_timestamp_seconds{job="sweep"})"), 1700000000.0);
  std::string without = metrics::TextSerializer().Serialize(KeyStateFamilies(state, false));
  EXPECT_EQ(without.find("udmg_last_success_timestamp_seconds"), std::string::npos);
}

TEST(KeyStateCollectorTest, ASuccessOfThisProcessOutlivesAnOlderDatabaseReading) {
  KeyStateCollector collector;
  collector.RecordSuccess("sweep", 1990, 2000);
  KeyState from_database;
  from_database.last_success["sweep"] = 1000;
  collector.Update(from_database);
  std::string text = "\n" + metrics::TextSerializer().Serialize(collector.Collect());
  EXPECT_EQ(Sample(text, R"(udmg_last_success_timestamp_seconds{job="sweep"})"), 2000.0);
}

// A run whose job row the database shows done since the run started succeeded at that row's
// time, not at the moment its outputs were written: a later run that reads the time from the
// database shows the same one.
TEST(KeyStateCollectorTest, ARunsSuccessIsItsJobRowsTimeWhenTheDatabaseShowsIt) {
  KeyStateCollector collector;
  KeyState from_database;
  from_database.last_success["reencrypt"] = 1995;
  collector.Update(from_database);
  collector.RecordSuccess("reencrypt", 1990, 1996);
  std::string text = "\n" + metrics::TextSerializer().Serialize(collector.Collect());
  EXPECT_EQ(Sample(text, R"(udmg_last_success_timestamp_seconds{job="reencrypt"})"), 1995.0);
}

// During a run the key state follows the job's migrated counts: values leave the oldest versions
// first (then plaintext) for the active one; a column the state does not know is left alone.
TEST(KeyStateCollectorTest, RecordMigratedMovesValuesFromTheOldestVersionsToTheActiveOne) {
  KeyState state;
  state.active_master_version = 3;
  state.values["t.c"].by_version = {{1, 4}, {2, 10}, {3, 1}};
  state.values["t.c"].plaintext = 2;
  KeyStateCollector collector;
  collector.Update(state);
  collector.RecordMigrated("t.c", 6);
  collector.RecordMigrated("other.c", 5);
  std::string text = metrics::TextSerializer().Serialize(collector.Collect());
  EXPECT_NE(text.find("udmg_key_values{column=\"t.c\",version=\"1\"} 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("udmg_key_values{column=\"t.c\",version=\"2\"} 8\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("udmg_key_values{column=\"t.c\",version=\"3\"} 7\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("udmg_key_values_stale{column=\"t.c\"} 10\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("other.c"), std::string::npos) << text;

  collector.RecordMigrated("t.c", 100);  // more than is left: everything ends on version 3
  text = metrics::TextSerializer().Serialize(collector.Collect());
  EXPECT_NE(text.find("udmg_key_values{column=\"t.c\",version=\"3\"} 17\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("udmg_key_values_stale{column=\"t.c\"} 0\n"), std::string::npos) << text;
}

// The keyring's creation times of every version, for the key-age alert.
TEST(KeyStateFamiliesTest, ExportsTheCreationTimeOfEveryKeyVersion) {
  KeyState state;
  state.master_created = {{1, 1000}, {2, 2000}};
  state.root_created = {{1, 500}};
  const std::string text = metrics::TextSerializer().Serialize(KeyStateFamilies(state));
  EXPECT_NE(text.find("udmg_master_key_created_timestamp_seconds{version=\"2\"} 2000\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("udmg_root_key_created_timestamp_seconds{version=\"1\"} 500\n"),
            std::string::npos) << text;
}

}  // namespace
}  // namespace udmg::pipeline
