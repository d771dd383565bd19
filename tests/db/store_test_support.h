// Test support for db::Store: a fresh database per test on each backend, and a value-parameterized
// fixture so every Store test runs on every backend. A new backend is one line in AllBackends().
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "db/store.h"
#include "tests/support/status_matchers.h"

namespace udmg::db::testing {

// One empty database for one test, removed on destruction. The SQL given to Execute/QueryText
// must be portable (plain CREATE TABLE / INSERT / SELECT) so tests run on every backend.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual std::string url() const = 0;
  // Runs SQL on the test's own connection (creating application tables, planting raw values);
  // records a test failure if it fails.
  void Execute(const std::string& sql);
  // The error message, or "" when the SQL succeeded.
  virtual std::string TryExecute(const std::string& sql) = 0;
  // The first column of the first row, as text ("NULL" for NULL, "" when there is no row).
  virtual std::string QueryText(const std::string& sql) = 0;
  // Every table's definition and rows, in a stable order: equal dumps mean nothing changed.
  virtual std::string Dump() = 0;
  // Waits until another connection of the database waits for a lock the test's own connection
  // holds: on SQLite, a busy handler sleeping (seen through the default VFS, which this support
  // replaces with one that counts sleeps); on PostgreSQL, pg_blocking_pids naming this session.
  // False after a minute: a safety net against a hang, not a timing check.
  virtual bool WaitForBlockedConnection() = 0;
};

struct StoreBackend {
  std::string name;
  std::function<std::unique_ptr<TestDatabase>()> make_database;
};

inline void PrintTo(const StoreBackend& backend, std::ostream* out) { *out << backend.name; }

// Every backend to test: SQLite always; PostgreSQL when UDMG_TEST_POSTGRES_URL names a server (a
// fresh schema per test, tests/db/postgres_test_database.h) or UDMG_REQUIRE_POSTGRES=1.
std::vector<StoreBackend> AllBackends();

std::unique_ptr<TestDatabase> MakeSqliteDatabase();

// The backend of the running test: its parameter when it is a value-parameterized test over
// StoreBackend (TEST_P), SQLite otherwise (TEST_F, or a parameter of another type), so one
// fixture serves every kind of test.
StoreBackend CurrentBackend();

// Runs each test on a fresh database, with `store_` open on it and migrated.
class StoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  // Another connection to the same database (not migrated: the database already is).
  std::unique_ptr<Store> OpenAnother();

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<Store> store_;
};

std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info);

#define UDMG_INSTANTIATE_FOR_ALL_BACKENDS(fixture)                                  \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture,                                       \
                           ::testing::ValuesIn(::udmg::db::testing::AllBackends()), \
                           ::udmg::db::testing::BackendName)

// Keyring records with one root version and `masters` master versions, the newest active, as the
// engine shapes them: the store does not look inside tokens or fingerprints.
KeyringRecords OpaqueKeyring(uint32_t masters);

// `records` after a master-key rotation, as opaque as OpaqueKeyring's: the newest master
// decrypt-only and one more version after it, active, with the K3 `k3`.
KeyringRecords WithNewActiveMaster(KeyringRecords records, std::string k3);

}  // namespace udmg::db::testing
