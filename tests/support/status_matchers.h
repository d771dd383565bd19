// gmock matchers and assertion macros for udmg::Status and udmg::Result<T>:
//   EXPECT_THAT(store->Migrate(), IsOk());
//   EXPECT_THAT(OpenStore(url), StatusIs(ErrorCode::kBadInput, HasSubstr("--db")));
//   ASSERT_OK(status);  ASSERT_OK_AND_ASSIGN(auto store, OpenStore(url));
//   EXPECT_STATUS(status, kNotFound, "no such table");
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>

#include "base/status.h"

namespace udmg {

namespace testing::internal {

// The enumerator's name, so that failure messages read "kWrongKey (4)", not raw bytes.
inline const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal:
      return "kInternal";
    case ErrorCode::kUsage:
      return "kUsage";
    case ErrorCode::kBadKey:
      return "kBadKey";
    case ErrorCode::kWrongKey:
      return "kWrongKey";
    case ErrorCode::kCorruptValue:
      return "kCorruptValue";
    case ErrorCode::kNotFound:
      return "kNotFound";
    case ErrorCode::kConflict:
      return "kConflict";
    case ErrorCode::kDatabase:
      return "kDatabase";
    case ErrorCode::kNotInitialized:
      return "kNotInitialized";
    case ErrorCode::kIncomplete:
      return "kIncomplete";
    case ErrorCode::kBadInput:
      return "kBadInput";
    case ErrorCode::kBadPassphrase:
      return "kBadPassphrase";
  }
  return code == ErrorCode{0} ? "OK" : "unknown";  // 0: the code of an OK Status
}

}  // namespace testing::internal

inline void PrintTo(ErrorCode code, std::ostream* out) {
  *out << testing::internal::ErrorCodeName(code) << " (" << static_cast<int>(code) << ")";
}

inline void PrintTo(const Status& status, std::ostream* out) {
  if (status.ok()) {
    *out << "OK";
    return;
  }
  PrintTo(status.code(), out);
  *out << ": " << status.message();
}

template <typename T>
void PrintTo(const Result<T>& result, std::ostream* out) {
  PrintTo(result.status(), out);
}

namespace testing {
namespace internal {

// The status of a Status or of a Result<T>, so that one matcher serves both.
inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}

}  // namespace internal

// Matches an OK Status, or a Result holding a value.
MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const ::udmg::Status status = ::udmg::testing::internal::StatusOf(arg);
  if (!status.ok()) *result_listener << "whose status is " << ::testing::PrintToString(status);
  return status.ok();
}

// Matches a failed Status (or Result) with `code`.
MATCHER_P(StatusIs, code,
          std::string(negation ? "doesn't have" : "has") + " code " +
              ::testing::PrintToString(::udmg::ErrorCode(code))) {
  const ::udmg::Status status = ::udmg::testing::internal::StatusOf(arg);
  if (status.code() == code) return true;
  *result_listener << "whose status is " << ::testing::PrintToString(status);
  return false;
}

// Matches a failed Status (or Result) with `code` and a message `message_matcher` matches (a
// string, HasSubstr(...), ...).
MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "doesn't have" : "has") + " code " +
               ::testing::PrintToString(::udmg::ErrorCode(code)) + " and a message that " +
               ::testing::DescribeMatcher<const std::string&>(message_matcher)) {
  const ::udmg::Status status = ::udmg::testing::internal::StatusOf(arg);
  if (status.code() != code) {
    *result_listener << "whose status is " << ::testing::PrintToString(status);
    return false;
  }
  *result_listener << "whose message \"" << status.message() << "\" ";
  return ::testing::ExplainMatchResult(message_matcher, status.message(), result_listener);
}

}  // namespace testing
}  // namespace udmg

// Asserts a Status is ok, else fails the test with its message.
#define ASSERT_OK(expr)                             \
  do {                                              \
    const ::udmg::Status udmg_s_ = (expr);          \
    ASSERT_TRUE(udmg_s_.ok()) << udmg_s_.message(); \
  } while (0)

// Asserts a Result is ok (else fails the test with its message) and assigns its value to `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(UDMG_CONCAT_(udmg_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.error().message;    \
  lhs = std::move(tmp).value()

// Fails the test unless the status has `code` and a one-line message containing `part`.
#define EXPECT_STATUS(status_expr, expected_code, part)                               \
  do {                                                                                \
    const ::udmg::Status udmg_s_ = (status_expr);                                     \
    ASSERT_FALSE(udmg_s_.ok()) << "expected " #expected_code;                         \
    EXPECT_EQ(udmg_s_.code(), ::udmg::ErrorCode::expected_code) << udmg_s_.message(); \
    EXPECT_NE(udmg_s_.message().find(part), std::string::npos) << udmg_s_.message();  \
    EXPECT_EQ(udmg_s_.message().find('\n'), std::string::npos) << udmg_s_.message();  \
  } while (0)
