// The fixture of the PostgreSQL store tests: a fresh schema per test (PostgresTestDatabase) and a
// PgStore open on it and migrated. Skips, with the command to run, when no server is given;
// fails instead under UDMG_REQUIRE_POSTGRES=1.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "db/postgres/postgres_store.h"
#include "tests/db/postgres_test_database.h"

namespace udmg::db::testing {

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    database_ = MakePostgresDatabase();
    store_ = OpenAnother();
    ASSERT_NE(store_, nullptr);
    ASSERT_OK(store_->Migrate());
  }

  // Another connection to the test's schema (not migrated: the schema already is).
  std::unique_ptr<postgres::PgStore> OpenAnother(
      const postgres::PgStoreOptions& options = postgres::PgStoreOptions()) {
    Result<std::unique_ptr<Store>> store = postgres::OpenPostgresStore(database_->url(), options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return nullptr;
    return std::unique_ptr<postgres::PgStore>(
        static_cast<postgres::PgStore*>(std::move(store).value().release()));
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<postgres::PgStore> store_;
};

}  // namespace udmg::db::testing
