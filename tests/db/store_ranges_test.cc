// Store key ranges of shared jobs on every backend: the split at creation, joining the same job,
// claims that skip leased ranges, lease expiry, renewal by the owner only, and the counts.
#include <functional>

#include "tests/db/forwarding_store.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using StoreRangesTest = StoreTest;

const ColumnRef kSecrets{"credentials", "secret", "id"};
constexpr int64_t kLongLeaseMs = 600000;

// Runs `during_sample` (another process's doing) each time the creator has sampled range bounds,
// before it goes on with them.
class SampleHookStore : public ForwardingStore {
 public:
  SampleHookStore(std::unique_ptr<Store> inner, std::function<void()> during_sample)
      : ForwardingStore(std::move(inner)), during_sample_(std::move(during_sample)) {}
  Result<std::vector<RowKey>> SampleRangeBounds(const ColumnRef& column, const StaleFilter& filter,
                                                uint64_t rows_per_range) override {
    ++samples;
    Result<std::vector<RowKey>> bounds =
        ForwardingStore::SampleRangeBounds(column, filter, rows_per_range);
    during_sample_();
    return bounds;
  }
  int samples = 0;

 private:
  std::function<void()> during_sample_;
};

class StoreRangesFixture : public StoreRangesTest {
 protected:
  // Ten stale values (ids 1..10, version 1) and two already on the target version 2.
  void SetUp() override {
    StoreRangesTest::SetUp();
    database_->Execute("CREATE TABLE credentials (id integer PRIMARY KEY, secret text)");
    for (int id = 1; id <= 12; ++id) {
      std::string version = id <= 10 ? "1" : "2";
      database_->Execute("INSERT INTO credentials VALUES (" + std::to_string(id) + ", 'udmg:v" +
                         version + ":x')");
    }
    ASSERT_OK(store_->AddColumn(kSecrets));
  }

  const StaleFilter filter_{2, false};

  // FindOrCreateSharedJob("reencrypt", 2, split by 4) through a store that runs `meanwhile`
  // (another process's doing) each time it samples: the samples taken and the new job's ranges.
  struct Creation {
    int samples = 0;
    RangeCounts ranges;
  };
  Creation CreateWhileSampling(std::function<void()> meanwhile) {
    SampleHookStore creator(OpenAnother(), std::move(meanwhile));
    Result<int64_t> id = FindOrCreateSharedJob(creator, "reencrypt", 2, {kSecrets}, filter_, 4);
    EXPECT_TRUE(id.ok()) << id.error().message;
    Creation creation{creator.samples, {}};
    if (id.ok()) {
      Result<RangeCounts> ranges = creator.CountRanges(*id);
      EXPECT_TRUE(ranges.ok()) << ranges.error().message;
      if (ranges.ok()) creation.ranges = *ranges;
    }
    return creation;
  }
};

TEST_P(StoreRangesFixture, SplitIntoRangesOfStaleKeysAndJoinedByEveryProcess) {
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       FindOrCreateSharedJob(*store_, "reencrypt", 2, {kSecrets}, filter_, 4));
  // Another process (another connection) joins the same job.
  ASSERT_OK_AND_ASSIGN(int64_t joined, FindOrCreateSharedJob(*OpenAnother(), "reencrypt", 2,
                                                             {kSecrets}, filter_, 4));
  EXPECT_EQ(joined, id);
  // Stale keys 1..10 by 4: (-inf, 4], (4, 8], (8, +inf).
  std::vector<JobRange> ranges;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::optional<JobRange> range, store_->ClaimRange(id, "a:1", kLongLeaseMs));
    if (!range) break;
    ranges.push_back(*range);
  }
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_FALSE(ranges[0].lower.has_value());
  EXPECT_EQ(ranges[0].upper, RowKey(int64_t{4}));
  EXPECT_EQ(ranges[1].lower, RowKey(int64_t{4}));
  EXPECT_EQ(ranges[1].upper, RowKey(int64_t{8}));
  EXPECT_EQ(ranges[2].lower, RowKey(int64_t{8}));
  EXPECT_FALSE(ranges[2].upper.has_value());
  EXPECT_EQ(ranges[2].column, kSecrets);
  ASSERT_OK_AND_ASSIGN(RangeCounts counts, store_->CountRanges(id));
  EXPECT_EQ(counts.leased, 3u);
  EXPECT_EQ(counts.open + counts.done, 0u);
  // A job aimed at another version is another job.
  ASSERT_OK_AND_ASSIGN(int64_t other,
                       FindOrCreateSharedJob(*store_, "reencrypt", 3, {kSecrets}, filter_, 4));
  EXPECT_NE(other, id);
}

TEST_P(StoreRangesFixture, RenewSavesTheCheckpointAndOnlyTheOwnerMayRenew) {
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       FindOrCreateSharedJob(*store_, "reencrypt", 2, {kSecrets}, filter_, 100));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRange> range, store_->ClaimRange(id, "a:1", kLongLeaseMs));
  ASSERT_TRUE(range.has_value());
  EXPECT_FALSE(range->upper.has_value());  // fewer stale rows than a range: one open range
  ASSERT_OK(store_->RenewRange(*range, "a:1", RowKey(int64_t{5}), kLongLeaseMs, false));
  EXPECT_STATUS(store_->RenewRange(*range, "b:2", RowKey(int64_t{6}), kLongLeaseMs, false),
                kConflict, "raise the lease above the longest batch time");
  // Leased: nobody else can claim it.
  ASSERT_OK_AND_ASSIGN(std::optional<JobRange> none, OpenAnother()->ClaimRange(id, "b:2", 1000));
  EXPECT_FALSE(none.has_value());
  // The lease expires (renewed with a negative lease): another process claims it at the checkpoint.
  ASSERT_OK(store_->RenewRange(*range, "a:1", std::nullopt, -1000, false));
  ASSERT_OK_AND_ASSIGN(RangeCounts counts, store_->CountRanges(id));
  EXPECT_EQ(counts.open, 1u);
  ASSERT_OK_AND_ASSIGN(std::optional<JobRange> taken, OpenAnother()->ClaimRange(id, "b:2", 1000));
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->checkpoint, RowKey(int64_t{5}));
  EXPECT_EQ(taken->owner, "b:2");
  // The first owner lost it.
  EXPECT_STATUS(store_->RenewRange(*range, "a:1", RowKey(int64_t{9}), kLongLeaseMs, false),
                kConflict, "lost to another process");
  ASSERT_OK(store_->RenewRange(*taken, "b:2", RowKey(int64_t{10}), kLongLeaseMs, true));
  ASSERT_OK_AND_ASSIGN(counts, store_->CountRanges(id));
  EXPECT_EQ(counts.done, 1u);
  EXPECT_EQ(counts.open + counts.leased, 0u);
  // Done: it is never claimed again, nor renewed.
  ASSERT_OK_AND_ASSIGN(none, store_->ClaimRange(id, "c:3", 1000));
  EXPECT_FALSE(none.has_value());
  EXPECT_STATUS(store_->RenewRange(*taken, "b:2", std::nullopt, kLongLeaseMs, false), kConflict,
                "lost");
}

TEST_P(StoreRangesFixture, AFinishedSharedJobIsNotJoined) {
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       FindOrCreateSharedJob(*store_, "reencrypt", 2, {kSecrets}, filter_, 4));
  ASSERT_OK(store_->SetJobState(id, db::JobState::kDone));
  ASSERT_OK_AND_ASSIGN(int64_t next,
                       FindOrCreateSharedJob(*store_, "reencrypt", 2, {kSecrets}, filter_, 4));
  EXPECT_NE(next, id);
  // A job without ranges (a single-process job) is never joined either.
  ASSERT_OK_AND_ASSIGN(int64_t single, store_->CreateJob("sweep", 2, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t shared_sweep,
                       FindOrCreateSharedJob(*store_, "sweep", 2, {kSecrets}, filter_, 4));
  EXPECT_NE(shared_sweep, single);
}

TEST_P(StoreRangesFixture, AJobCreatedWhileSamplingMakesTheCreatorSampleAgain) {
  // While this process samples, another runs a whole job of the same kind and target that
  // migrates ids 1..8: the first sample still counts them, so it is taken again and the job is
  // split over what is left (ids 9 and 10: one range), not over the stale sample (three ranges).
  std::unique_ptr<Store> other = OpenAnother();
  bool first = true;
  Creation creation = CreateWhileSampling([&] {
    if (!std::exchange(first, false)) return;
    ASSERT_OK_AND_ASSIGN(int64_t job, other->CreateJob("reencrypt", 2, {kSecrets}));
    database_->Execute("UPDATE credentials SET secret = 'udmg:v2:x' WHERE id <= 8");
    ASSERT_OK(other->SetJobState(job, JobState::kDone));
  });
  EXPECT_EQ(creation.samples, 2);
  EXPECT_EQ(creation.ranges.open, 1u);
}

TEST_P(StoreRangesFixture, ACreatorOvertakenAtEverySampleKeepsTheLastSplit) {
  std::unique_ptr<Store> other = OpenAnother();
  Creation creation =
      CreateWhileSampling([&] { ASSERT_OK(other->CreateJob("reencrypt", 2, {kSecrets}).status()); });
  EXPECT_EQ(creation.samples, 3);
  EXPECT_EQ(creation.ranges.open, 3u);
}

TEST_P(StoreRangesFixture, CreatingASharedJobNeedsBoundsForEveryColumn) {
  EXPECT_STATUS(store_->CreateSharedJob("reencrypt", 2, {kSecrets}, {}, std::nullopt).status(),
                kInternal, "one list of range bounds per column");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreRangesFixture);

}  // namespace
}  // namespace udmg::db::testing
