// Progress: the pure formatting functions, the tracker's figures, and the output loop driven by a
// ManualClock into a memory stream.
#include "pipeline/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace udmg::pipeline {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A FILE* writing into memory; text() flushes and returns what was written.
class MemoryStream {
 public:
  MemoryStream() : file_(open_memstream(&buffer_, &size_)) {}
  ~MemoryStream() {
    std::fclose(file_);
    std::free(buffer_);
  }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(buffer_, size_);
  }

 private:
  char* buffer_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

TEST(FormatTest, CountsHaveThousandsSeparators) {
  const std::pair<uint64_t, const char*> known[] = {
      {0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {100000000, "100,000,000"}};
  for (const auto& [count, text] : known) EXPECT_EQ(FormatCount(count), text) << count;
}

TEST(FormatTest, Durations) {
  const std::pair<double, const char*> known[] = {{0, "0s"},      {59.4, "59s"},   {60, "1m00s"},
                                                  {187, "3m07s"}, {3725, "1h02m"}, {90061, "1d01h"},
                                                  {-1, "?"},      {NAN, "?"},      {INFINITY, "?"}};
  for (const auto& [duration, text] : known) EXPECT_EQ(FormatDuration(duration), text) << duration;
}

TEST(FormatTest, LiveLine) {
  ProgressFigures f{.done = 412000, .total = 1000000, .elapsed_seconds = 8,
                    .rows_per_second = 52310.4, .eta_seconds = 11.2, .throttled_seconds = 3.04};
  EXPECT_EQ(FormatProgressLine(f),
            "412,000/1,000,000 rows 41.2% | 52,310 rows/s | ETA 11s | throttled 3.0s");
  f.eta_seconds.reset();
  f.paused = true;
  EXPECT_EQ(FormatProgressLine(f),
            "412,000/1,000,000 rows 41.2% | 52,310 rows/s | ETA ? | throttled 3.0s | PAUSED");
}

TEST(FormatTest, GateHoldSaysWhyTheJobIsPaused) {
  ProgressFigures f{.done = 5, .total = 10, .hold = "pause file /run/udmg.pause exists"};
  EXPECT_EQ(FormatProgressLine(f),
            "5/10 rows 50.0% | 0 rows/s | ETA ? | throttled 0.0s | paused: pause file "
            "/run/udmg.pause exists");
  EXPECT_NE(FormatProgressLogLine(f).find(", paused: pause file /run/udmg.pause exists"),
            std::string::npos)
      << FormatProgressLogLine(f);
}

TEST(FormatTest, PercentNeverRoundsUpToDone) {
  ProgressFigures f{.done = 999999, .total = 1000000};
  EXPECT_NE(FormatProgressLine(f).find("99.9%"), std::string::npos);
  f.done = 1000000;
  EXPECT_NE(FormatProgressLine(f).find("100.0%"), std::string::npos);
}

TEST(FormatTest, UnknownTotal) {
  ProgressFigures f{.done = 5};
  EXPECT_EQ(FormatProgressLine(f), "5/? rows | 0 rows/s | ETA ? | throttled 0.0s");
}

TEST(FormatTest, LogLine) {
  ProgressFigures f{.done = 412000, .total = 1000000, .elapsed_seconds = 100,
                    .rows_per_second = 4120, .eta_seconds = 142.7, .throttled_seconds = 0};
  EXPECT_EQ(FormatProgressLogLine(f),
            "reencrypt: [1m40s] 412,000/1,000,000 rows (41.2%), 4,120 rows/s, ETA 2m23s, "
            "throttled 0.0s");
  f.paused = true;
  EXPECT_NE(FormatProgressLogLine(f).find(", paused"), std::string::npos);
}

// The tracker's figures once `rows` more rows are done, `elapsed` later.
ProgressFigures FiguresAfter(ManualClock& clock, ProgressTracker& tracker, seconds elapsed,
                             uint64_t rows) {
  clock.Advance(elapsed);
  tracker.AddDone(rows);
  return tracker.Snapshot(nullptr);
}

TEST(ProgressTrackerTest, NoEtaBeforeOnePercent) {
  ManualClock clock;
  ProgressTracker tracker(clock, 100000);
  ProgressFigures f = FiguresAfter(clock, tracker, seconds(10), 999);
  EXPECT_EQ(f.done, 999u);
  EXPECT_DOUBLE_EQ(f.rows_per_second, 99.9);
  EXPECT_FALSE(f.eta_seconds);
  f = FiguresAfter(clock, tracker, seconds(0), 1);
  ASSERT_TRUE(f.eta_seconds);
  EXPECT_DOUBLE_EQ(*f.eta_seconds, 99000 / 100.0);
}

TEST(ProgressTrackerTest, ResumedRowsCountAsDoneButNotInTheRate) {
  ManualClock clock;
  ProgressTracker tracker(clock, 1000, /*already_done=*/500);
  ProgressFigures f = FiguresAfter(clock, tracker, seconds(2), 100);
  EXPECT_EQ(f.done, 600u);
  EXPECT_DOUBLE_EQ(f.rows_per_second, 50);
  ASSERT_TRUE(f.eta_seconds);
  EXPECT_DOUBLE_EQ(*f.eta_seconds, 8);
}

TEST(ProgressTrackerTest, UpdateFromThePipelineAndThrottleFigures) {
  ManualClock clock;
  ProgressTracker tracker(clock, 0);
  auto throttle = Throttle::Create({}, clock);
  ASSERT_TRUE(throttle.ok());
  (*throttle)->Pause();
  int polls = 0;
  EXPECT_FALSE((*throttle)->WaitForAdmission(1, [&] { return polls++ == 20; }));
  tracker.Update(250, 1000);
  ProgressFigures f = tracker.Snapshot(throttle->get());
  EXPECT_EQ(f.done, 250u);
  EXPECT_EQ(f.total, 1000u);
  EXPECT_TRUE(f.paused);
  EXPECT_NEAR(f.throttled_seconds, 2.0, 1e-9);
  EXPECT_NEAR(f.elapsed_seconds, 2.0, 1e-9);
}

TEST(ProgressTrackerTest, DoneBeyondTotalGivesZeroEta) {
  ManualClock clock;
  ProgressTracker tracker(clock, 10);
  // 12 of 10: rows written meanwhile found by a later pass.
  ProgressFigures f = FiguresAfter(clock, tracker, seconds(1), 12);
  ASSERT_TRUE(f.eta_seconds);
  EXPECT_EQ(*f.eta_seconds, 0);
}

TEST(ProgressReporterTest, TerminalLineIsRewrittenInPlaceAFewTimesASecond) {
  ManualClock clock;
  ProgressTracker tracker(clock, 1000000);
  MemoryStream out;
  ProgressReporter reporter(tracker, nullptr, out.file(), clock, {.terminal = true});
  clock.Advance(seconds(1));
  tracker.AddDone(20000);
  EXPECT_TRUE(reporter.Tick());
  EXPECT_FALSE(reporter.Tick());  // not again within 250 ms
  clock.Advance(milliseconds(249));
  EXPECT_FALSE(reporter.Tick());
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(reporter.Tick());
  std::string text = out.text();
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.rfind("\r20,000/1,000,000 rows 2.0% |", 0), 0u);
  reporter.Finish();
  reporter.Finish();  // once only
  text = out.text();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3);
  EXPECT_FALSE(reporter.Tick());  // nothing after the final line
}

TEST(ProgressReporterTest, ShorterLivelineWipesTheRestOfTheLongerOne) {
  ManualClock clock;
  ProgressTracker tracker(clock, 0);
  MemoryStream out;
  ProgressReporter reporter(tracker, nullptr, out.file(), clock, {.terminal = true});
  tracker.Update(123456789, 0);
  clock.Advance(seconds(1));
  ASSERT_TRUE(reporter.Tick());
  size_t first = out.text().size() - 1;  // without "\r"
  tracker.Update(1, 0);
  clock.Advance(seconds(1));
  ASSERT_TRUE(reporter.Tick());
  std::string second = out.text().substr(first + 2);
  EXPECT_EQ(second.size(), first);
  EXPECT_EQ(second.back(), ' ');
}

TEST(ProgressReporterTest, NotATerminalWritesPlainLinesEveryInterval) {
  ManualClock clock;
  ProgressTracker tracker(clock, 100);
  MemoryStream out;
  ProgressReporter reporter(tracker, nullptr, out.file(), clock, {.terminal = false});
  EXPECT_FALSE(reporter.Tick());  // a job shorter than one interval prints only its last line
  clock.Advance(seconds(9));
  EXPECT_FALSE(reporter.Tick());
  clock.Advance(seconds(1));
  tracker.AddDone(50);
  EXPECT_TRUE(reporter.Tick());
  clock.Advance(seconds(5));
  EXPECT_FALSE(reporter.Tick());
  reporter.Finish();
  std::string text = out.text();
  EXPECT_EQ(text,
            "reencrypt: [10s] 50/100 rows (50.0%), 5 rows/s, ETA 10s, throttled 0.0s\n"
            "reencrypt: [15s] 50/100 rows (50.0%), 3 rows/s, ETA 15s, throttled 0.0s\n");
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(ProgressReporterTest, ThreadStartsAndStopsWithAFinalLine) {
  ManualClock clock;  // never advanced: the thread's ticks write nothing
  ProgressTracker tracker(clock, 10);
  MemoryStream out;
  {
    ProgressReporter reporter(tracker, nullptr, out.file(), clock, {.terminal = false});
    reporter.Start();
    tracker.AddDone(10);
    reporter.Stop();
    reporter.Stop();
  }
  EXPECT_EQ(out.text(), "reencrypt: [0s] 10/10 rows (100.0%), 0 rows/s, ETA ?, throttled 0.0s\n");
}

TEST(ReencryptHooksTest, WireThrottleAndProgressToThePipeline) {
  ManualClock clock;
  auto throttle = Throttle::Create({.batch_size = 800, .target_batch_time = milliseconds(100)},
                                   clock);
  ASSERT_TRUE(throttle.ok());
  ProgressTracker tracker(clock, 0);
  std::atomic<bool> stop{false};
  ReencryptHooks hooks = MakeReencryptHooks(throttle->get(), &tracker, &stop);
  ASSERT_TRUE(hooks.before_fetch && hooks.after_commit && hooks.on_progress);
  EXPECT_EQ(hooks.before_fetch(1000, {}), 800u);  // the throttle's size, not the default
  hooks.after_commit(BatchCommitted{.sequence = 0, .rows = 800, .written = 800,
                                    .write_time = milliseconds(400)});
  EXPECT_EQ(hooks.before_fetch(1000, {}), 533u);  // shrunk toward the target
  hooks.on_progress(ProgressSnapshot{.total = 5000, .done = 1600});
  EXPECT_EQ(tracker.Snapshot(nullptr).done, 1600u);
  EXPECT_EQ(tracker.Snapshot(nullptr).total, 5000u);
  (*throttle)->Pause();
  stop = true;
  EXPECT_EQ(hooks.before_fetch(1000, {}), 0u);  // stopped while paused: stop at this boundary

  ReencryptHooks none = MakeReencryptHooks(nullptr, nullptr, nullptr);
  EXPECT_FALSE(none.before_fetch || none.after_commit || none.on_progress);
}

}  // namespace
}  // namespace udmg::pipeline
