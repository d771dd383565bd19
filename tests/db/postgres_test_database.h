// A fresh PostgreSQL schema per test, on the server named by UDMG_TEST_POSTGRES_URL: the
// TestDatabase of tests/db/store_test_support.h for the PostgreSQL backend. Its url() selects the
// schema through the search_path (options=-csearch_path=...), so every udmg_ and application
// table of the test lives in it; the schema is dropped with everything in it on destruction.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "tests/db/store_test_support.h"

namespace udmg::db::testing {

// UDMG_TEST_POSTGRES_URL, or nullopt when it is unset or empty.
std::optional<std::string> TestPostgresUrl();
// UDMG_REQUIRE_POSTGRES=1 (set by .ci/run and scripts/test.sh): a PostgreSQL test that finds no
// server must fail, not skip, so a CI run that lost its server cannot pass on SQLite alone.
bool PostgresRequired();
inline constexpr const char* kNoPostgresMessage =
    "UDMG_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped; run every test on both "
    "backends with scripts/postgres.sh run -- ctest --test-dir build/release";
inline constexpr const char* kPostgresRequiredMessage =
    "UDMG_REQUIRE_POSTGRES=1 but UDMG_TEST_POSTGRES_URL is not set: the PostgreSQL server is "
    "missing; run through scripts/postgres.sh run -- ... or unset UDMG_REQUIRE_POSTGRES";

// In a void test body or SetUp: skips the test with kNoPostgresMessage when no server is given,
// or fails it when one is required (PostgresRequired()).
#define UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES()                                             \
  do {                                                                                   \
    if (!::udmg::db::testing::TestPostgresUrl()) {                                       \
      if (::udmg::db::testing::PostgresRequired()) {                                     \
        FAIL() << ::udmg::db::testing::kPostgresRequiredMessage;                         \
      }                                                                                  \
      GTEST_SKIP() << ::udmg::db::testing::kNoPostgresMessage;                           \
    }                                                                                    \
  } while (0)

// A new schema on the test server; records a test failure (and returns null) when no server is
// given, and a test failure when it is unreachable.
std::unique_ptr<TestDatabase> MakePostgresDatabase();

// `url` with `options=-csearch_path=<schema> -cudmg.schema=<schema>` added as a URL query
// parameter: the schema holds the test's tables and udmg-server's.
std::string UrlWithSearchPath(const std::string& url, const std::string& schema);

}  // namespace udmg::db::testing
