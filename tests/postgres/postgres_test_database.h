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

// UDMG_TEST_POSTGRES_URL, or nullopt when it is unset or empty (server tests then skip).
std::optional<std::string> TestPostgresUrl();
inline constexpr const char* kNoPostgresMessage =
    "UDMG_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped; run them with "
    "scripts/postgres.sh run -- ctest -L postgres";

// A new schema on the test server; records a test failure when the server is unreachable.
std::unique_ptr<TestDatabase> MakePostgresDatabase();

// `url` with `options=-csearch_path=<schema>` added as a URL query parameter.
std::string UrlWithSearchPath(const std::string& url, const std::string& schema);

}  // namespace udmg::db::testing
