#include "base/time_text.h"

#include <gtest/gtest.h>

#include <chrono>

namespace udmg {
namespace {

constexpr int64_t kNov27 = 1795768743;  // 2026-11-27 08:39:03 UTC

TEST(TimeTextTest, WritesEachFormat) {
  EXPECT_EQ(UtcText(kNov27), "2026-11-27 08:39:03 UTC");
  EXPECT_EQ(Rfc3339(kNov27), "2026-11-27T08:39:03Z");
  EXPECT_EQ(Rfc3339(0), "1970-01-01T00:00:00Z");
}

TEST(TimeTextTest, MillisecondsArePaddedAndTruncated) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(kNov27)) +
                    std::chrono::microseconds(42'999);
  EXPECT_EQ(Rfc3339Millis(time), "2026-11-27T08:39:03.042Z");
}

TEST(TimeTextTest, TimesPastYear9999AreWrittenAsSeconds) {
  EXPECT_EQ(Rfc3339(253402300799), "9999-12-31T23:59:59Z");
  EXPECT_EQ(Rfc3339(253402300800), "253402300800");
  EXPECT_EQ(UtcText(253402300800), "253402300800");
}

TEST(TimeTextTest, ParsesWhatRfc3339WritesAndPlainDates) {
  EXPECT_EQ(ParseUtcTime("2026-11-27T08:39:03Z"), kNov27);
  EXPECT_EQ(ParseUtcTime(Rfc3339(kNov27)), kNov27);
  EXPECT_EQ(ParseUtcTime("2026-11-27"), kNov27 - (8 * 3600 + 39 * 60 + 3));
  EXPECT_EQ(ParseUtcTime("1970-01-01"), 0);
  EXPECT_EQ(ParseUtcTime("2024-02-29"), 1709164800);
}

TEST(TimeTextTest, RefusesEveryOtherText) {
  for (const char* text :
       {"", "2026-11-27 08:39:03", "2026-11-27T08:39:03", "2026-11-27T08:39:03+01:00", "2026-02-30",
        "2025-02-29", "2026-13-01", "2026-11-27T24:00:00Z", "2026-11-27T08:60:00Z", "26-11-27",
        "2026/11/27", "2026-11-2x", "7d"}) {
    EXPECT_FALSE(ParseUtcTime(text).has_value()) << text;
  }
}

TEST(TimeTextTest, SecondsHaveTwoDecimals) {
  EXPECT_EQ(SecondsText(0.6), "0.60 s");
  EXPECT_EQ(SecondsText(std::chrono::milliseconds(1234)), "1.23 s");
}

}  // namespace
}  // namespace udmg
