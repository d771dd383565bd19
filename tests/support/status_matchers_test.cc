// IsOk and StatusIs on Status and Result<T>: each matches what it should and nothing else, and
// explains a mismatch with the status it saw.
#include "tests/support/status_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace udmg::testing {
namespace {

using ::testing::ExplainMatchResult;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StringMatchResultListener;

const Status kWrongKeyError(ErrorCode::kWrongKey, "the K0 given is not the current root key");

Result<int> Seven() { return 7; }
Result<int> Failed() { return kWrongKeyError; }

TEST(StatusMatchersTest, IsOkMatchesOkStatusAndResults) {
  EXPECT_THAT(Status::Ok(), IsOk());
  EXPECT_THAT(Seven(), IsOk());
  EXPECT_THAT(Result<std::unique_ptr<int>>(std::make_unique<int>(1)), IsOk());
}

TEST(StatusMatchersTest, IsOkRejectsFailuresAndSaysWhy) {
  EXPECT_THAT(kWrongKeyError, Not(IsOk()));
  EXPECT_THAT(Failed(), Not(IsOk()));
  StringMatchResultListener listener;
  EXPECT_FALSE(ExplainMatchResult(IsOk(), kWrongKeyError, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("kWrongKey (4)"));
  EXPECT_THAT(listener.str(), HasSubstr("not the current root key"));
}

TEST(StatusMatchersTest, StatusIsMatchesTheCode) {
  EXPECT_THAT(kWrongKeyError, StatusIs(ErrorCode::kWrongKey));
  EXPECT_THAT(Failed(), StatusIs(ErrorCode::kWrongKey));
  EXPECT_THAT(kWrongKeyError, Not(StatusIs(ErrorCode::kBadKey)));
  EXPECT_THAT(Failed(), Not(StatusIs(ErrorCode::kBadKey)));
  StringMatchResultListener listener;
  EXPECT_FALSE(ExplainMatchResult(StatusIs(ErrorCode::kBadKey), kWrongKeyError, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("kWrongKey (4)"));
}

TEST(StatusMatchersTest, StatusIsNeverMatchesSuccess) {
  EXPECT_THAT(Status::Ok(), Not(StatusIs(ErrorCode::kInternal)));
  EXPECT_THAT(Seven(), Not(StatusIs(ErrorCode::kInternal)));
  EXPECT_THAT(Seven(), Not(StatusIs(ErrorCode::kInternal, HasSubstr(""))));
}

TEST(StatusMatchersTest, StatusIsWithAMessageMatcherNeedsBoth) {
  EXPECT_THAT(kWrongKeyError, StatusIs(ErrorCode::kWrongKey, HasSubstr("current root key")));
  EXPECT_THAT(Failed(), StatusIs(ErrorCode::kWrongKey, HasSubstr("current root key")));
  EXPECT_THAT(kWrongKeyError, StatusIs(ErrorCode::kWrongKey, kWrongKeyError.message()));
  EXPECT_THAT(kWrongKeyError, Not(StatusIs(ErrorCode::kWrongKey, HasSubstr("passphrase"))));
  EXPECT_THAT(kWrongKeyError, Not(StatusIs(ErrorCode::kBadKey, HasSubstr("current root key"))));

  StringMatchResultListener listener;
  EXPECT_FALSE(ExplainMatchResult(StatusIs(ErrorCode::kWrongKey, HasSubstr("passphrase")),
                                  kWrongKeyError, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("not the current root key"));
}

TEST(StatusMatchersTest, DescriptionsNameTheCodeAndTheMessage) {
  const ::testing::Matcher<const Status&> matcher =
      StatusIs(ErrorCode::kNotFound, HasSubstr("no such table"));
  EXPECT_EQ(::testing::DescribeMatcher<const Status&>(matcher),
            "has code kNotFound (6) and a message that has substring \"no such table\"");
  EXPECT_EQ(::testing::DescribeMatcher<const Status&>(IsOk()), "is OK");
  EXPECT_EQ(::testing::DescribeMatcher<const Status&>(IsOk(), /*negation=*/true), "is not OK");
}

TEST(StatusMatchersTest, AFailedExpectationShowsTheStatusItSaw) {
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(kWrongKeyError, IsOk()),
                          "kWrongKey (4): the K0 given is not the current root key");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(Seven(), StatusIs(ErrorCode::kBadKey)),
                          "has code kBadKey (3)");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(Failed(), StatusIs(ErrorCode::kWrongKey, HasSubstr("passphrase"))),
      "has substring \"passphrase\"");
}

TEST(StatusMatchersTest, AssertionMacrosFailOnTheWrongStatus) {
  EXPECT_FATAL_FAILURE(ASSERT_OK(kWrongKeyError), "not the current root key");
  EXPECT_FATAL_FAILURE(
      [] {
        ASSERT_OK_AND_ASSIGN(const int value, Failed());
        (void)value;
      }(),
      "not the current root key");
  EXPECT_FATAL_FAILURE(EXPECT_STATUS(Status::Ok(), kWrongKey, "root key"), "expected kWrongKey");
  EXPECT_NONFATAL_FAILURE(EXPECT_STATUS(kWrongKeyError, kBadKey, "root key"), "kBadKey");
  EXPECT_NONFATAL_FAILURE(EXPECT_STATUS(kWrongKeyError, kWrongKey, "passphrase"),
                          "not the current root key");
}

TEST(StatusMatchersTest, AssertionMacrosPassOnSuccess) {
  ASSERT_OK(Status::Ok());
  ASSERT_OK_AND_ASSIGN(const int seven, Seven());
  EXPECT_EQ(seven, 7);
  EXPECT_STATUS(kWrongKeyError, kWrongKey, "current root key");
}

}  // namespace
}  // namespace udmg::testing
