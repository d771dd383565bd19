// The re-encryption job at the library level (pipeline/reencrypt.h) on real SQLite files.
#include "pipeline/reencrypt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "pipeline/job_state.h"
#include "pipeline/secrets.h"
#include "tests/pipeline/pipeline_fixture.h"

namespace udmg::testing {
namespace {

using pipeline::ReencryptOutcome;

constexpr int64_t kRows = 3000;

class ReencryptTest : public PipelineTest {
 protected:
  db::JobRecord LoadJob(int64_t job_id) {
    auto job = store().LoadJob(job_id);
    EXPECT_TRUE(job.ok() && job->has_value());
    return job.ok() && job->has_value() ? **job : db::JobRecord{};
  }
  int64_t Checkpoint(int64_t job_id) {
    db::JobRecord job = LoadJob(job_id);
    if (job.columns.empty() || !job.columns[0].checkpoint) return 0;
    return std::get<int64_t>(*job.columns[0].checkpoint);
  }
};

TEST_P(ReencryptTest, MigratesEveryRowToTheActiveVersion) {
  InsertEncryptedRows(1, kRows);
  uint32_t target = RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/128);
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));

  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_TRUE(pipeline::ReportStatus(report).ok());
  EXPECT_EQ(report.target_version, target);
  EXPECT_FALSE(report.resumed);
  EXPECT_EQ(report.migrated, static_cast<uint64_t>(kRows));
  EXPECT_EQ(report.remaining, 0u);
  ASSERT_EQ(report.columns.size(), 1u);
  EXPECT_TRUE(report.columns[0].complete);
  EXPECT_EQ(report.columns[0].passes, 1u);
  EXPECT_EQ(CountStale(target), 0u);
  ExpectMigrated(1, kRows, target);

  db::JobRecord job = LoadJob(report.job_id);
  EXPECT_EQ(job.state, db::JobState::kDone);
  EXPECT_EQ(job.target_version, target);
  ASSERT_EQ(job.columns.size(), 1u);
  EXPECT_TRUE(job.columns[0].scanned);
  EXPECT_EQ(job.columns[0].migrated, static_cast<uint64_t>(kRows));
  EXPECT_EQ(Checkpoint(report.job_id), kRows);
  // Every encryption is counted for the nonce budget.
  auto encryptions = store().LoadEncryptions();
  ASSERT_TRUE(encryptions.ok());
  EXPECT_GE((*encryptions)[target], static_cast<uint64_t>(kRows));
}

TEST_P(ReencryptTest, NothingStaleIsDoneAtOnce) {
  InsertEncryptedRows(1, 10);
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report,
                       pipeline::RunReencryption(Options()));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.migrated, 0u);
  EXPECT_EQ(faults().cas_calls.load(), 0);
}

TEST_P(ReencryptTest, StopFlagStopsAtABatchBoundaryAndTheSameCallResumes) {
  InsertEncryptedRows(1, kRows);
  uint32_t target = RotateMasterKey();
  std::atomic<bool> stop{false};
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.stop = &stop;
  int commits = 0;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted&) {
    if (++commits == 7) stop = true;  // as a SIGTERM handler would
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport first, pipeline::RunReencryption(options));

  EXPECT_EQ(first.outcome, ReencryptOutcome::kStopped);
  Status status = pipeline::ReportStatus(first);
  EXPECT_EQ(status.code(), ErrorCode::kIncomplete);
  EXPECT_NE(status.message().find("run the same command again"), std::string::npos);
  EXPECT_EQ(LoadJob(first.job_id).state, db::JobState::kStopped);
  // Batches in flight were drained and committed: the checkpoint is a batch boundary, everything
  // up to it migrated, nothing after it touched.
  int64_t checkpoint = Checkpoint(first.job_id);
  EXPECT_GE(checkpoint, 700);
  EXPECT_LT(checkpoint, kRows);
  EXPECT_EQ(checkpoint % 100, 0);
  EXPECT_EQ(first.migrated, static_cast<uint64_t>(checkpoint));
  ExpectMigrated(1, checkpoint, target);
  EXPECT_EQ(CountStale(target), static_cast<uint64_t>(kRows - checkpoint));

  stop = false;
  options.hooks.after_commit = nullptr;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport second, pipeline::RunReencryption(options));
  EXPECT_EQ(second.outcome, ReencryptOutcome::kDone);
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(second.job_id, first.job_id);
  EXPECT_EQ(second.migrated, static_cast<uint64_t>(kRows - checkpoint));
  ExpectMigrated(1, kRows, target);
  db::JobRecord job = LoadJob(first.job_id);
  EXPECT_EQ(job.state, db::JobState::kDone);
  EXPECT_EQ(job.columns[0].migrated, static_cast<uint64_t>(kRows));
}

TEST_P(ReencryptTest, WriteFailureAtBatchKLeavesAGapFreeCheckpoint) {
  InsertEncryptedRows(1, kRows);
  uint32_t target = RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.batches_in_flight = 6;
  faults().fail_cas_at = 5;  // the fifth batch in commit order
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));

  EXPECT_EQ(report.outcome, ReencryptOutcome::kError);
  Status status = pipeline::ReportStatus(report);
  EXPECT_EQ(status.code(), ErrorCode::kDatabase);
  EXPECT_NE(status.message().find("injected write failure"), std::string::npos);
  // Batches 1..4 committed, the fifth failed, and no later batch was written or checkpointed.
  EXPECT_EQ(Checkpoint(report.job_id), 400);
  EXPECT_EQ(faults().cas_calls.load(), 5);
  ExpectMigrated(1, 400, target);
  EXPECT_EQ(CountStale(target), static_cast<uint64_t>(kRows - 400));
  EXPECT_EQ(LoadJob(report.job_id).state, db::JobState::kStopped);

  faults().fail_cas_at = 0;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport resumed, pipeline::RunReencryption(options));
  EXPECT_EQ(resumed.outcome, ReencryptOutcome::kDone);
  EXPECT_TRUE(resumed.resumed);
  ExpectMigrated(1, kRows, target);
}

TEST_P(ReencryptTest, FetchFailureStopsTheInputAndKeepsWhatWasCommitted) {
  InsertEncryptedRows(1, 1000);
  uint32_t target = RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  faults().fail_fetch_at = 4;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kError);
  EXPECT_EQ(pipeline::ReportStatus(report).code(), ErrorCode::kDatabase);
  EXPECT_EQ(Checkpoint(report.job_id), 300);
  EXPECT_EQ(faults().fetch_calls.load(), 4);  // the input stopped at the failure
  ExpectMigrated(1, 300, target);
  EXPECT_EQ(CountStale(target), 700u);
}

TEST_P(ReencryptTest, BadRowsAreRecordedSkippedAndNeverOverwritten) {
  InsertEncryptedRows(1, 500);
  std::shared_ptr<const Keyring> v1 = LoadKeyring();
  std::string good = EncryptUnder(v1, "tampered");
  std::string flipped = good;
  char& digit = flipped[flipped.size() - 6];  // a base64 digit of the tag, changed
  digit = digit == 'A' ? 'B' : 'A';
  InsertRows({{601, "udmg:v1:@@@not-base64@@@"},
              {602, flipped},
              {603, "udmg:v9:" + good.substr(std::string("udmg:v1:").size())},
              {604, "udmg:v01:AAAA"}});
  uint32_t target = RotateMasterKey();
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report,
                       pipeline::RunReencryption(Options()));

  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.migrated, 500u);
  EXPECT_EQ(report.failed, 4u);
  EXPECT_EQ(report.unmigratable, 4u);
  EXPECT_EQ(report.remaining, 0u);
  Status status = pipeline::ReportStatus(report);
  EXPECT_EQ(status.code(), ErrorCode::kCorruptValue);
  EXPECT_NE(status.message().find("udmg_reencrypt_failures"), std::string::npos);
  EXPECT_EQ(LoadJob(report.job_id).state, db::JobState::kFailed);
  ExpectMigrated(1, 500, target);
  EXPECT_EQ(RawValue(601), "udmg:v1:@@@not-base64@@@");
  EXPECT_EQ(RawValue(602), flipped);
  EXPECT_EQ(RawValue(604), "udmg:v01:AAAA");

  auto failures = store().ListFailures(report.job_id);
  ASSERT_TRUE(failures.ok());
  std::map<int64_t, std::pair<uint32_t, std::string>> by_key;
  for (const db::FailureRecord& failure : *failures) {
    EXPECT_EQ(failure.column, Secrets());
    by_key[std::get<int64_t>(failure.key)] = {failure.version, failure.error_class};
  }
  EXPECT_EQ(by_key[601], std::make_pair(1u, std::string("malformed")));
  EXPECT_EQ(by_key[602], std::make_pair(1u, std::string("decryption_failed")));
  EXPECT_EQ(by_key[603], std::make_pair(9u, std::string("unknown_version")));
  EXPECT_EQ(by_key[604], std::make_pair(0u, std::string("malformed")));

  // A second run starts a new job (the first is final) and finds the same rows, and nothing else.
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport again, pipeline::RunReencryption(Options()));
  EXPECT_NE(again.job_id, report.job_id);
  EXPECT_EQ(again.migrated, 0u);
  EXPECT_EQ(again.unmigratable, 4u);
}

TEST_P(ReencryptTest, MaxFailuresStopsPastTheLimit) {
  InsertEncryptedRows(1, 2000);
  // From 2001 on every tenth value is broken: 2 per batch of 20.
  std::shared_ptr<const Keyring> v1 = LoadKeyring();
  std::vector<std::pair<int64_t, std::string>> rows;
  size_t bad = 0;
  for (int64_t id = 2001; id <= 4000; ++id) {
    bool broken = id % 10 == 0;
    bad += broken;
    rows.emplace_back(id, broken ? "udmg:v1:broken" : EncryptUnder(v1, PlaintextOf(id)));
  }
  InsertRows(rows);
  RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/20);
  options.batches_in_flight = 2;
  options.max_failures = 30;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kMaxFailures);
  // It stops past 30; the batches already in flight are still committed (at most 2 x 20 rows).
  EXPECT_GT(report.failed, 30u);
  EXPECT_LE(report.failed, 31u + 2 * 20);
  Status status = pipeline::ReportStatus(report);
  EXPECT_EQ(status.code(), ErrorCode::kCorruptValue);
  EXPECT_NE(status.message().find("raise the failure limit"), std::string::npos);
  EXPECT_EQ(status.setting(), "max_failures") << "the CLI names its flag";
  EXPECT_EQ(LoadJob(report.job_id).state, db::JobState::kStopped);

  // Resumed with a higher limit, it finishes and records each bad row once.
  options.max_failures = 1000;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport resumed, pipeline::RunReencryption(options));
  EXPECT_EQ(resumed.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(resumed.job_id, report.job_id);
  EXPECT_EQ(report.failed + resumed.failed, bad);
  auto failures = store().ListFailures(report.job_id);
  ASSERT_TRUE(failures.ok());
  EXPECT_EQ(failures->size(), bad);
  EXPECT_EQ(resumed.unmigratable, bad);
  EXPECT_EQ(report.migrated + resumed.migrated, 4000u - bad);
}

TEST_P(ReencryptTest, BatchesInFlightNeverExceedTheLimit) {
  InsertEncryptedRows(1, kRows);
  uint32_t target = RotateMasterKey();
  constexpr size_t kLimit = 3;
  pipeline::ReencryptOptions options = Options(/*batch_size=*/50);
  options.batches_in_flight = kLimit;
  // Outstanding = batches read but not yet written back, counted at the store.
  std::atomic<int> outstanding{0};
  std::atomic<int> peak{0};
  std::mutex mutex;
  std::condition_variable changed;
  faults().after_fetch = [&](size_t) {
    int now = ++outstanding;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::lock_guard lock(mutex);
    changed.notify_all();
  };
  bool reached_limit = false;
  faults().before_cas = [&](int call, std::span<const db::CasWrite>) {
    if (call == 1) {
      // Hold the first write until the fetch has filled every slot: the limiter, not luck,
      // must then stop it.
      std::unique_lock lock(mutex);
      reached_limit = changed.wait_for(lock, std::chrono::seconds(30),
                                       [&] { return outstanding.load() >= int{kLimit}; });
    }
    --outstanding;
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_TRUE(reached_limit);
  EXPECT_EQ(peak.load(), int{kLimit});
  EXPECT_LE(report.peak_batches_in_flight, kLimit);
  EXPECT_GE(report.peak_batches_in_flight, kLimit);
  ExpectMigrated(1, kRows, target);
}

TEST_P(ReencryptTest, ConcurrentWritesWinAndAreCountedAsConflicts) {
  InsertEncryptedRows(1, 1000);
  uint32_t target = RotateMasterKey();
  std::shared_ptr<const Keyring> current = LoadKeyring();
  std::unique_ptr<db::Store> writer = OpenStore();
  std::set<int64_t> rewritten;
  faults().before_cas = [&](int call, std::span<const db::CasWrite> writes) {
    if (call > 3) return;
    // The application writes three rows of this batch between the job's read and write-back.
    for (size_t i = 0; i < 3 && i < writes.size(); ++i) {
      int64_t id = std::get<int64_t>(writes[i].key);
      ASSERT_TRUE(writer->WriteValue(Secrets(), id, EncryptUnder(current, "app-" +
                                                                            std::to_string(id)))
                      .ok());
      rewritten.insert(id);
    }
  };
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.conflicts, 9u);
  EXPECT_EQ(report.migrated, 991u);
  EXPECT_EQ(CountStale(target), 0u);
  ASSERT_EQ(rewritten.size(), 9u);
  for (int64_t id = 1; id <= 1000; ++id) {
    std::string expected = rewritten.contains(id) ? "app-" + std::to_string(id) : PlaintextOf(id);
    ASSERT_EQ(DecryptRow(id), expected) << "row " << id;
  }
}

// Live writers at the library level: two application writers run during the job, one through
// SecretsClient with the current keyring, one with a stale keyring (the old version, never
// refreshed). No update is lost and no stale value is left when the job says done.
TEST_P(ReencryptTest, ConcurrentWritersWithCurrentAndStaleKeyrings) {
  InsertEncryptedRows(1, kRows);
  std::shared_ptr<const Keyring> old_keyring = LoadKeyring();
  uint32_t target = RotateMasterKey();
  auto client = pipeline::SecretsClient::Open(OpenStore(), k0());
  ASSERT_TRUE(client.ok()) << client.error().message;
  std::unique_ptr<db::Store> stale_store = OpenStore();

  std::mutex order;  // serializes the two writers so that "last written" is well defined
  std::map<int64_t, std::string> last_written;
  std::atomic<bool> stop_writers{false};
  std::atomic<int> writers_started{0};  // writers that have written at least 10 values
  std::atomic<bool> job_running{false};  // the rest of their writes wait for the job
  std::atomic<bool> writer_failed{false};
  // The current writer makes at most kMaxWrites rows current, so the main pass has more than 15
  // batches of 100 and the writers always stop in it, before any final count (unbounded, on a
  // loaded machine it could make most rows current first; the hook would then never run and the
  // writers would outlive the job).
  constexpr int kMaxWrites = 300;
  auto writer = [&](int seed, bool stale) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<int64_t> row(1, kRows);
    ValueCipher old_cipher(old_keyring);
    for (int n = 0; n < kMaxWrites && !stop_writers.load(); ++n) {
      int64_t id = row(random);
      std::string text = (stale ? "stale-" : "current-") + std::to_string(n);
      {
        std::lock_guard lock(order);
        Status written =
            stale ? stale_store->WriteValue(Secrets(), id, *old_cipher.Encrypt(text))
                  : (*client)->Write(Secrets(), id, AsBytes(text));
        if (!written.ok()) {
          ADD_FAILURE() << written.message();
          writer_failed = true;
          return;
        }
        last_written[id] = text;
      }
      if (n != 9) continue;
      ++writers_started;
      while (!job_running.load() && !stop_writers.load()) std::this_thread::yield();
    }
  };
  std::thread current_writer(writer, 1, false);
  std::thread stale_writer(writer, 2, true);
  // On a loaded machine the job could otherwise finish its 15 batches before either writer ran.
  while (writers_started.load() < 2 && !writer_failed.load()) std::this_thread::yield();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.hooks.on_job_running = [&](int64_t) { job_running = true; };
  int commits = 0;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted&) {
    if (++commits == 15) {  // the writers stop mid-scan; their late stale values are behind it
      stop_writers = true;
      current_writer.join();
      stale_writer.join();
    }
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  if (current_writer.joinable()) {
    stop_writers = true;
    current_writer.join();
    stale_writer.join();
  }
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(CountStale(target), 0u);
  ASSERT_FALSE(last_written.empty());
  for (int64_t id = 1; id <= kRows; ++id) {
    auto it = last_written.find(id);
    std::string expected = it != last_written.end() ? it->second : PlaintextOf(id);
    ASSERT_EQ(DecryptRow(id), expected) << "row " << id;
  }
}

TEST_P(ReencryptTest, StaleWritesBehindTheScanAreCaughtByAFurtherPass) {
  InsertEncryptedRows(1, 1000);
  std::shared_ptr<const Keyring> old_keyring = LoadKeyring();
  uint32_t target = RotateMasterKey();
  std::unique_ptr<db::Store> stale_writer = OpenStore();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  int commits = 0;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted&) {
    // A process that never refreshed its keyring writes rows the scan has already passed.
    if (++commits == 5) {
      for (int64_t id : {3, 150, 420}) {
        ASSERT_TRUE(stale_writer
                        ->WriteValue(Secrets(), id,
                                     EncryptUnder(old_keyring, "late-" + std::to_string(id)))
                        .ok());
      }
    }
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  ASSERT_EQ(report.columns.size(), 1u);
  EXPECT_EQ(report.columns[0].passes, 2u);
  EXPECT_EQ(report.migrated, 1003u);
  EXPECT_EQ(CountStale(target), 0u);
  EXPECT_EQ(DecryptRow(150), "late-150");
  EXPECT_TRUE(RawValue(150)->starts_with("udmg:v" + std::to_string(target) + ":"));
  EXPECT_EQ(Checkpoint(report.job_id), 1000);  // catch-up passes keep the stored checkpoint
  // Another connection wrote: every final count reads the values (start, after each pass).
  EXPECT_EQ(faults().count_stale_calls, 3);
}

// A job that was the only writer knows its final count without reading every value again on
// SQLite (what was stale at the start less what it migrated); PostgreSQL counts.
TEST_P(ReencryptTest, AJobThatWroteAloneDerivesItsFinalCountOnSqlite) {
  InsertEncryptedRows(1, 1000);
  uint32_t target = RotateMasterKey();
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report,
                       pipeline::RunReencryption(Options(/*batch_size=*/100)));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  ASSERT_EQ(report.columns.size(), 1u);
  EXPECT_EQ(report.columns[0].passes, 1u);
  EXPECT_EQ(report.columns[0].remaining, 0u);
  EXPECT_EQ(report.migrated, 1000u);
  EXPECT_EQ(faults().count_stale_calls, GetParam().name == "sqlite" ? 1 : 2);
  EXPECT_EQ(CountStale(target), 0u);
}

TEST_P(ReencryptTest, WritersThatKeepWritingStaleValuesExhaustThePasses) {
  InsertEncryptedRows(1, 500);
  std::shared_ptr<const Keyring> old_keyring = LoadKeyring();
  RotateMasterKey();
  std::unique_ptr<db::Store> stale_writer = OpenStore();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.max_passes = 3;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted&) {
    ASSERT_TRUE(
        stale_writer->WriteValue(Secrets(), int64_t{1}, EncryptUnder(old_keyring, "again")).ok());
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kPassesExhausted);
  EXPECT_EQ(report.columns[0].passes, 3u);
  EXPECT_EQ(report.remaining, 1u);
  Status status = pipeline::ReportStatus(report);
  EXPECT_EQ(status.code(), ErrorCode::kIncomplete);
  EXPECT_NE(status.message().find("old keyring"), std::string::npos);
}

TEST_P(ReencryptTest, MaxRowsBoundsARun) {
  InsertEncryptedRows(1, 1000);
  uint32_t target = RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.job_kind = std::string(pipeline::kSweepJobKind);
  options.max_rows = 250;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kStopped);
  EXPECT_EQ(report.migrated, 250u);
  EXPECT_EQ(Checkpoint(report.job_id), 250);
  EXPECT_EQ(CountStale(target), 750u);
  // The next bounded run carries on where this one stopped.
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport next, pipeline::RunReencryption(options));
  EXPECT_EQ(next.job_id, report.job_id);
  EXPECT_EQ(Checkpoint(report.job_id), 500);
}

// Batches are bounded in bytes of stored value text as well as in rows: large values make small
// batches (cut at the bound, then fetched fewer at a time), and a value larger than the bound is a
// batch of its own; every row still migrates once.
TEST_P(ReencryptTest, LargeValuesMakeBatchesWithinTheByteBound) {
  constexpr size_t kValueBytes = 10'000;
  std::vector<std::pair<int64_t, std::string>> rows;
  for (int64_t id = 1; id <= 60; ++id) rows.emplace_back(id, std::string(kValueBytes, 'a'));
  rows.emplace_back(61, std::string(5 * kValueBytes, 'b'));  // above the bound alone
  for (int64_t id = 62; id <= 70; ++id) rows.emplace_back(id, std::string(kValueBytes, 'c'));
  InsertRows(rows);
  pipeline::ReencryptOptions options = Options(/*batch_size=*/1000);
  options.include_plaintext = true;
  options.batch_bytes = 3 * kValueBytes + kValueBytes / 2;  // three values of 10 KB fit, not four
  std::vector<size_t> batch_rows;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted& batch) {
    batch_rows.push_back(batch.rows);
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.migrated, 70u);
  size_t committed = 0;
  for (size_t n : batch_rows) {
    EXPECT_LE(n, 3u);
    committed += n;
  }
  EXPECT_EQ(committed, 70u);
  EXPECT_GE(batch_rows.size(), 24u);  // 69 values of 10 KB, 3 a batch, and the large one alone
  EXPECT_EQ(DecryptRow(61), std::string(5 * kValueBytes, 'b'));
}

TEST_P(ReencryptTest, ThrottleReturningZeroStopsAtABoundary) {
  InsertEncryptedRows(1, 1000);
  RotateMasterKey();
  pipeline::ReencryptOptions options = Options();
  int asked = 0;
  options.hooks.before_fetch = [&](size_t, const pipeline::StopCheck&) -> size_t {
    return ++asked <= 3 ? 70 : 0;
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kStopped);
  EXPECT_EQ(report.migrated, 210u);  // the throttle's batch size was used
  EXPECT_EQ(Checkpoint(report.job_id), 210);
}

TEST_P(ReencryptTest, RunTimeBudgetStopsTheJob) {
  InsertEncryptedRows(1, 100);
  RotateMasterKey();
  pipeline::ReencryptOptions options = Options();
  options.run_time = std::chrono::nanoseconds(1);  // spent before the first fetch
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kStopped);
  EXPECT_EQ(pipeline::ReportStatus(report).code(), ErrorCode::kIncomplete);
}

TEST_P(ReencryptTest, LegacyPlaintextIsEncryptedOnlyOnRequest) {
  InsertRows({{1, "plain-1"}, {2, "plain-2"}, {3, ""}});
  InsertEncryptedRows(4, 10);
  uint32_t target = RotateMasterKey();
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport plain, pipeline::RunReencryption(Options()));
  EXPECT_EQ(plain.migrated, 7u);
  EXPECT_EQ(RawValue(1), "plain-1");

  pipeline::ReencryptOptions options = Options();
  options.include_plaintext = true;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.migrated, 3u);
  EXPECT_TRUE(RawValue(1)->starts_with("udmg:v" + std::to_string(target) + ":"));
  EXPECT_EQ(DecryptRow(1), "plain-1");
  EXPECT_EQ(DecryptRow(3), "");
}

TEST_P(ReencryptTest, ResumeOnlyWithoutAnInterruptedJobIsNotFound) {
  InsertEncryptedRows(1, 10);
  pipeline::ReencryptOptions options = Options();
  options.resume = pipeline::ResumeMode::kResumeOnly;
  auto report = pipeline::RunReencryption(options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
  EXPECT_NE(report.error().message.find("without the resume-only mode"), std::string::npos);
  EXPECT_EQ(report.error().setting, "resume") << "the CLI names its flag";
}

TEST_P(ReencryptTest, UnknownColumnIsRefusedBeforeAnyJobStarts) {
  pipeline::ReencryptOptions options = Options();
  options.columns = {db::ColumnRef{"credentials", "name", "id"}};
  auto report = pipeline::RunReencryption(options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
  auto job = store().FindLatestJobNotDone(pipeline::kReencryptJobKind);
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->has_value());
}

TEST_P(ReencryptTest, AnInterruptedJobForAnOlderTargetIsSuperseded) {
  InsertEncryptedRows(1, 1000);
  RotateMasterKey();
  std::atomic<bool> stop{false};
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  options.stop = &stop;
  options.hooks.after_commit = [&](const pipeline::BatchCommitted&) { stop = true; };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport first, pipeline::RunReencryption(options));
  ASSERT_EQ(first.outcome, ReencryptOutcome::kStopped);

  uint32_t newer = RotateMasterKey();
  pipeline::ReencryptOptions again = Options();
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport second, pipeline::RunReencryption(again));
  EXPECT_EQ(second.outcome, ReencryptOutcome::kDone);
  EXPECT_NE(second.job_id, first.job_id);
  EXPECT_FALSE(second.resumed);
  EXPECT_EQ(second.target_version, newer);
  EXPECT_EQ(LoadJob(first.job_id).state, db::JobState::kFailed);
  ExpectMigrated(1, 1000, newer);
}

// The first snapshot comes before the first batch with the run's own count, so progress lines,
// live `status` and the metrics learn the total without counting the stale rows again.
TEST_P(ReencryptTest, ProgressStartsWithTheTotalAndReachesIt) {
  InsertEncryptedRows(1, 1000);
  RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/100);
  std::vector<pipeline::ProgressSnapshot> snapshots;
  std::optional<size_t> snapshots_at_first_fetch;
  options.hooks.on_progress = [&](const pipeline::ProgressSnapshot& s) { snapshots.push_back(s); };
  options.hooks.before_fetch = [&](size_t batch_size, const pipeline::StopCheck&) {
    if (!snapshots_at_first_fetch) snapshots_at_first_fetch = snapshots.size();
    return batch_size;
  };
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  ASSERT_EQ(snapshots_at_first_fetch, 1u);
  EXPECT_EQ(snapshots.front().total, 1000u);
  EXPECT_EQ(snapshots.front().done, 0u);
  EXPECT_EQ(snapshots.front().batches, 0u);
  EXPECT_EQ(snapshots.front().job_id, report.job_id);
  ASSERT_GE(snapshots.size(), 10u);
  EXPECT_TRUE(std::is_sorted(snapshots.begin(), snapshots.end(),
                             [](const auto& a, const auto& b) { return a.done < b.done; }));
  EXPECT_EQ(snapshots.back().done, 1000u);
  EXPECT_EQ(snapshots.back().total, 1000u);
  EXPECT_EQ(snapshots.front().column, "credentials.secret");
  EXPECT_EQ(snapshots.back().job_id, report.job_id);
}

TEST_P(ReencryptTest, SerialCryptoGivesTheSameResult) {
  InsertEncryptedRows(1, 500);
  uint32_t target = RotateMasterKey();
  pipeline::ReencryptOptions options = Options(/*batch_size=*/33);
  options.batches_in_flight = 1;
  options.crypto_concurrency = 1;
  ASSERT_OK_AND_ASSIGN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  EXPECT_EQ(report.outcome, ReencryptOutcome::kDone);
  EXPECT_EQ(report.peak_batches_in_flight, 1u);
  ExpectMigrated(1, 500, target);
}

TEST_P(ReencryptTest, BadOptionsAreUsageErrors) {
  pipeline::ReencryptOptions options = Options(/*batch_size=*/0);
  auto report = pipeline::RunReencryption(options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kUsage);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ReencryptTest);

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer sees the flow graph's stage bodies (docs/reencryption.md, "ThreadSanitizer"): a
// counter that the fetch stage writes and the commit stage reads without a lock is a race between
// two stage bodies, and TSan must report it. It does only when oneTBB is instrumented too (the
// TSan stage of scripts/test.sh runs with scripts/tsan-tbb.sh's library) and no suppression hides
// reports whose stack passes through oneTBB, as every stage body's does. The fetch stage waits,
// for a while at each batch, until a commit has read the counter it just wrote; the hand-shake is
// relaxed atomics only, so the fetch thread releases nothing between the write and the read that
// could order them (unrelated locks, such as the SQLite allocator's or the PostgreSQL registry of
// running statements, would otherwise order them by chance).
using ReencryptDeathTest = ReencryptTest;

TEST_P(ReencryptDeathTest, ThreadSanitizerReportsARaceBetweenStageBodies) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  InsertEncryptedRows(1, 2000);
  RotateMasterKey();
  EXPECT_EXIT(
      {
        pipeline::ReencryptOptions options = Options(/*batch_size=*/20);
        uint64_t unguarded = 0;
        uint64_t seen = 0;
        std::atomic<bool> written{false};
        std::atomic<bool> read{false};
        options.hooks.before_fetch = [&](size_t batch_size, const pipeline::StopCheck&) {
          read.store(false, std::memory_order_relaxed);
          ++unguarded;
          written.store(true, std::memory_order_relaxed);
          auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
          while (!read.load(std::memory_order_relaxed) &&
                 std::chrono::steady_clock::now() < give_up) {
            std::this_thread::yield();
          }
          written.store(false, std::memory_order_relaxed);
          return batch_size;
        };
        options.hooks.after_commit = [&](const pipeline::BatchCommitted&) {
          if (!written.load(std::memory_order_relaxed)) return;
          seen = unguarded;
          read.store(true, std::memory_order_relaxed);
        };
        (void)pipeline::RunReencryption(options);
        std::exit(seen == 0 ? 1 : 0);  // 1: no commit ever overlapped a fetch
      },
      ::testing::ExitedWithCode(66), "ThreadSanitizer: data race");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ReencryptDeathTest);
#endif

}  // namespace
}  // namespace udmg::testing
