// The set-up shared by the library and pipeline tests: a fresh database of the running test's
// backend (a SQLite file in a temp directory, or a PostgreSQL schema of its own; removed
// afterwards), migrated, with a keyring made under a random K0 and the demo table
// credentials(id, name, secret) with credentials.secret registered. Rotations go through the
// store exactly as the CLI does them. Fixtures derive from DemoStoreTest and add their helpers;
// TEST_P tests run on every backend (UDMG_INSTANTIATE_FOR_ALL_BACKENDS), TEST_F on SQLite only.
//
// Thread-safety: a fixture is used by its test's thread only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/demo_table.h"
#include "db/store.h"
#include "engine/keyring.h"
#include "engine/secret.h"
#include "tests/db/store_test_support.h"
#include "tests/support/status_matchers.h"

namespace udmg::db::testing {

class DemoStoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // credentials.secret, keyed by id.
  static const ColumnRef& Secrets();

  // A new connection to the test database, schema migrated (null, with a test failure, if not).
  std::unique_ptr<Store> OpenStore();
  // The keyring as stored, opened with k0() (null, with a test failure, if it does not open).
  std::shared_ptr<const Keyring> LoadKeyring();
  // New master version, active; returns it.
  uint32_t RotateMasterKey();
  // Makes `k0` the current K0 of this fixture; returns the previous one.
  SecretBytes ReplaceK0(SecretBytes k0) { return std::exchange(k0_, std::move(k0)); }

  // Rows id -> secret text as stored (envelopes, plaintext, anything), name "row-<id>".
  void InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows);
  std::optional<std::string> RawValue(int64_t id);
  void SetRawValue(int64_t id, const std::optional<std::string>& value);

  const SecretBytes& k0() const { return k0_; }
  Store& store() { return *store_; }
  DemoTable& demo_table() { return *demo_table_; }
  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<TestDatabase> database_;
  std::string url_;
  SecretBytes k0_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DemoTable> demo_table_;
};

}  // namespace udmg::db::testing
