// pipeline::Sweep: bounded gradual migration with compare-and-swap.
#include "pipeline/sweep.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "tests/pipeline/hooked_store.h"
#include "tests/pipeline/library_fixture.h"

namespace udmg::testing {
namespace {

using pipeline::Sweep;
using pipeline::SweepOptions;
using pipeline::SweepReport;
using pipeline::SweepStop;

// Why a run stopped, the rows it migrated and the stale rows it left, to check together.
struct Outcome {
  SweepStop stop;
  uint64_t migrated;
  uint64_t remaining;
  bool operator==(const Outcome&) const = default;
};

Outcome OutcomeOf(const SweepReport& report) {
  return {report.stop, report.migrated, report.remaining};
}

void PrintTo(const Outcome& outcome, std::ostream* out) {
  *out << SweepStopName(outcome.stop) << ", " << outcome.migrated << " migrated, "
       << outcome.remaining << " remaining";
}

class SweepTest : public LibraryTest {
 protected:
  // The sweep runs on the pipeline, which opens its own reader and writer connections.
  SweepOptions Options(size_t batch_size = 1000) {
    SweepOptions options;
    options.batch_size = batch_size;
    options.open_store = [this](std::string_view) -> Result<std::unique_ptr<db::Store>> {
      return OpenStore();
    };
    return options;
  }

  // `rows` encrypted rows made stale by a master key rotation, and a client that knows the new key.
  std::unique_ptr<pipeline::SecretsClient> ClientOverStaleRows(int64_t rows) {
    InsertEncryptedRows(rows);
    RotateMasterKey();
    return OpenClient();
  }

  void ExpectMigrated(int64_t id) {
    std::string value = *RawValue(id);
    EXPECT_TRUE(value.starts_with("udmg:v2:")) << "id " << id << ": " << value;
    EXPECT_EQ(Decrypt(value), "secret-" + std::to_string(id));
  }
};

TEST_F(SweepTest, MovesEveryStaleValueToTheActiveVersion) {
  InsertEncryptedRows(25);
  ASSERT_EQ(RotateMasterKey(), 2u);
  auto client = OpenClient();
  SweepOptions options = Options(4);
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(report.target_version, 2u);
  EXPECT_EQ(OutcomeOf(report), (Outcome{SweepStop::kScannedAll, 25, 0}));
  EXPECT_EQ(report.conflicts, 0u);
  EXPECT_EQ(report.failed, 0u);
  ASSERT_EQ(report.columns.size(), 1u);
  EXPECT_EQ(report.columns[0].migrated, 25u);
  for (int64_t id = 1; id <= 25; ++id) ExpectMigrated(id);
  ASSERT_OK_AND_ASSIGN(auto counts, store().LoadEncryptions());
  EXPECT_EQ(counts[2], 25u);

  ASSERT_OK_AND_ASSIGN(SweepReport again, Sweep(*client, options));
  EXPECT_EQ(again.migrated, 0u);
  EXPECT_EQ(again.remaining, 0u);
}

TEST_F(SweepTest, MaxRowsBoundsTheRun) {
  auto client = ClientOverStaleRows(25);
  SweepOptions options = Options(4);
  options.max_rows = 10;
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(OutcomeOf(report), (Outcome{SweepStop::kMaxRows, 10, 15}));
  for (int64_t id = 1; id <= 10; ++id) ExpectMigrated(id);  // key order
  EXPECT_TRUE(RawValue(11)->starts_with("udmg:v1:"));
}

TEST_F(SweepTest, MaxDurationStopsAtABatchBoundary) {
  auto client = ClientOverStaleRows(25);
  // A clock that moves one second per look: start at 0 s, batches start at 1 s and 2 s, and the
  // look at 3 s finds the 3 s budget spent.
  auto now = std::chrono::steady_clock::time_point{};
  SweepOptions options = Options(4);
  options.max_duration = std::chrono::seconds(3);
  options.clock = [&] { return now += std::chrono::seconds(1); };
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(OutcomeOf(report), (Outcome{SweepStop::kMaxDuration, 8, 17}));
}

TEST_F(SweepTest, TheNextBoundedRunResumesTheStoppedSweepJob) {
  auto client = ClientOverStaleRows(25);
  SweepOptions options = Options(4);
  options.max_rows = 12;
  ASSERT_OK_AND_ASSIGN(SweepReport first, Sweep(*client, options));
  EXPECT_EQ(first.stop, SweepStop::kMaxRows);
  ASSERT_OK_AND_ASSIGN(std::optional<db::JobRecord> job, store().LoadJob(first.job_id));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->kind, "sweep");
  EXPECT_EQ(job->state, db::JobState::kStopped);
  ASSERT_EQ(job->columns.size(), 1u);
  EXPECT_EQ(job->columns[0].checkpoint, db::RowKey{12});

  options.max_rows.reset();
  ASSERT_OK_AND_ASSIGN(SweepReport second, Sweep(*client, options));
  EXPECT_EQ(second.job_id, first.job_id);
  EXPECT_EQ(OutcomeOf(second), (Outcome{SweepStop::kScannedAll, 13, 0}));
  ASSERT_OK_AND_ASSIGN(job, store().LoadJob(first.job_id));
  EXPECT_EQ(job->state, db::JobState::kDone);
  for (int64_t id = 1; id <= 25; ++id) ExpectMigrated(id);
}

TEST_F(SweepTest, ZeroMaxRowsAndZeroDurationStartNothing) {
  auto client = ClientOverStaleRows(5);
  SweepOptions options = Options();
  options.max_rows = 0;
  ASSERT_OK_AND_ASSIGN(SweepReport rows, Sweep(*client, options));
  EXPECT_EQ(OutcomeOf(rows), (Outcome{SweepStop::kMaxRows, 0, 5}));

  options = Options();
  options.max_duration = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(SweepReport duration, Sweep(*client, options));
  EXPECT_EQ(OutcomeOf(duration), (Outcome{SweepStop::kMaxDuration, 0, 5}));
}

TEST_F(SweepTest, WithoutADatabaseToOpenItIsBadInput) {
  auto client = OpenClient();
  auto report = Sweep(*client, SweepOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kBadInput);
}

TEST_F(SweepTest, PlaintextIsLeftAloneUnlessAsked) {
  InsertRows({{1, EncryptUnderActive("secret-1")}, {2, "legacy-2"}, {3, ""}});
  SetRawValue(3, std::nullopt);
  RotateMasterKey();
  auto client = OpenClient();
  ASSERT_OK_AND_ASSIGN(SweepReport plain_kept, Sweep(*client, Options()));
  EXPECT_EQ(plain_kept.migrated, 1u);
  EXPECT_EQ(plain_kept.remaining, 0u);
  EXPECT_EQ(*RawValue(2), "legacy-2");
  EXPECT_FALSE(RawValue(3).has_value());

  SweepOptions options = Options();
  options.include_plaintext = true;
  ASSERT_OK_AND_ASSIGN(SweepReport encrypted, Sweep(*client, options));
  EXPECT_EQ(encrypted.migrated, 1u);
  EXPECT_EQ(encrypted.remaining, 0u);
  EXPECT_TRUE(RawValue(2)->starts_with("udmg:v2:"));
  EXPECT_EQ(Decrypt(*RawValue(2)), "legacy-2");
  EXPECT_FALSE(RawValue(3).has_value());  // NULL stays NULL
}

TEST_F(SweepTest, ValuesThatDoNotDecryptAreReportedAndLeftByteIdentical) {
  InsertEncryptedRows(6);
  std::string tampered = *RawValue(2);
  tampered[tampered.size() - 6] = tampered[tampered.size() - 6] == 'A' ? 'B' : 'A';
  SetRawValue(2, tampered);
  SetRawValue(4, "udmg:vX:not an envelope");
  SetRawValue(5, "udmg:v9:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");  // a version nobody has
  RotateMasterKey();
  auto client = OpenClient();
  SweepOptions options = Options(2);
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(report.migrated, 3u);
  EXPECT_EQ(report.failed, 3u);
  EXPECT_EQ(report.remaining, 3u);
  ASSERT_EQ(report.failures.size(), 3u);
  EXPECT_EQ(report.failures[0].key, db::RowKey{2});
  EXPECT_EQ(report.failures[0].version, 1u);
  EXPECT_EQ(report.failures[0].error_class, "decryption_failed");
  EXPECT_EQ(report.failures[1].key, db::RowKey{4});
  EXPECT_EQ(report.failures[1].version, 0u);
  EXPECT_EQ(report.failures[1].error_class, "malformed");
  EXPECT_EQ(report.failures[2].key, db::RowKey{5});
  EXPECT_EQ(report.failures[2].version, 9u);
  EXPECT_EQ(report.failures[2].error_class, "unknown_version");
  EXPECT_EQ(*RawValue(2), tampered);
  EXPECT_EQ(*RawValue(4), "udmg:vX:not an envelope");
  EXPECT_EQ(*RawValue(5), "udmg:v9:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  for (int64_t id : {1, 3, 6}) ExpectMigrated(id);
}

TEST_F(SweepTest, ConcurrentWriteWinsOverTheSweep) {
  InsertEncryptedRows(3);
  RotateMasterKey();
  std::string concurrent = EncryptUnderActive("written meanwhile");
  auto other_writer = OpenStore();
  bool written = false;
  // The hook runs in the pipeline's commit stage, just before its compare-and-swap.
  SweepOptions options = Options();
  options.open_store = [&](std::string_view) -> Result<std::unique_ptr<db::Store>> {
    return std::unique_ptr<db::Store>(std::make_unique<HookedStore>(OpenStore(), [&] {
      if (written) return;
      written = true;
      ASSERT_TRUE(other_writer->WriteValue(Secrets(), db::RowKey{2}, concurrent).ok());
    }));
  };
  auto client = OpenClient();
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(report.migrated, 2u);
  EXPECT_EQ(report.conflicts, 1u);
  EXPECT_EQ(report.remaining, 0u);
  EXPECT_EQ(*RawValue(2), concurrent);
}

TEST_F(SweepTest, RowBudgetSpansColumnsAndRemainingCoversThemAll) {
  InsertEncryptedRows(4);
  // A second registered column of the same table, holding envelopes too.
  ASSERT_OK(store().AddColumn(db::ColumnRef{"credentials", "name", "id"}));
  const db::ColumnRef names{"credentials", "name", "id"};
  for (int64_t id = 1; id <= 4; ++id) {
    ASSERT_OK(store().WriteValue(names, db::RowKey{id}, EncryptUnderActive("name")));
  }
  RotateMasterKey();
  auto client = OpenClient();
  SweepOptions options = Options();
  options.max_rows = 6;
  ASSERT_OK_AND_ASSIGN(SweepReport report, Sweep(*client, options));
  EXPECT_EQ(report.migrated, 6u);
  EXPECT_EQ(report.remaining, 2u);
  ASSERT_EQ(report.columns.size(), 2u);
  EXPECT_EQ(report.columns[0].migrated + report.columns[1].migrated, 6u);
  EXPECT_EQ(report.columns[0].remaining + report.columns[1].remaining, 2u);
}

TEST_F(SweepTest, ZeroBatchSizeIsBadInput) {
  auto client = OpenClient();
  SweepOptions options = Options(0);
  auto report = Sweep(*client, options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kBadInput);
}

}  // namespace
}  // namespace udmg::testing
