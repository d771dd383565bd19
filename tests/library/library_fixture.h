// A fresh database per test on each backend (a SQLite file in a temp directory, or a PostgreSQL
// schema of its own; removed afterwards), initialized with a random K0, holding the demo table
// credentials(id, name, secret) with credentials.secret registered. Rotations go through the
// store exactly as the CLI does them.
//
// Tests written with TEST_P run on every backend of db::testing::AllBackends() (instantiate them
// with UDMG_INSTANTIATE_FOR_ALL_BACKENDS); tests still written with TEST_F run on SQLite only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/store.h"
#include "engine/secret.h"
#include "pipeline/secrets.h"
#include "tests/db/store_test_support.h"

namespace udmg::testing {

class LibraryTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A new connection to the test database, schema migrated.
  std::unique_ptr<db::Store> OpenStore();
  // A connection to another, empty database on the same backend (migrated, no keyring).
  std::unique_ptr<db::Store> OpenEmptyStore();
  // A client on a new connection with `k0` (the current K0 when not given).
  std::unique_ptr<pipeline::SecretsClient> OpenClient();
  std::unique_ptr<pipeline::SecretsClient> OpenClient(std::unique_ptr<db::Store> store);

  // New master version, active; returns it.
  uint32_t RotateMasterKey();
  // New root version; k0() becomes the new key (the old one is returned).
  SecretBytes RotateRootKey();

  // Rows id -> secret text as stored (envelopes, plaintext, anything).
  void InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows);
  // `count` rows id 1..count, secret = "secret-<id>" encrypted under the active version.
  void InsertEncryptedRows(int64_t count);
  std::optional<std::string> RawValue(int64_t id);
  void SetRawValue(int64_t id, const std::optional<std::string>& value);
  // Envelope of `plaintext` under the current active version.
  std::string EncryptUnderActive(std::string_view plaintext);
  // The plaintext of an envelope (must decrypt).
  std::string Decrypt(std::string_view envelope);

  const SecretBytes& k0() const { return k0_; }
  db::Store& store() { return *store_; }
  static const db::ColumnRef& Secrets();

 private:
  std::unique_ptr<db::testing::TestDatabase> database_;
  std::unique_ptr<db::testing::TestDatabase> empty_database_;
  std::string url_;
  SecretBytes k0_;
  std::unique_ptr<db::Store> store_;
};

// Asserts a Result is ok and yields its value.
#define UDMG_ASSERT_OK_AND_ASSIGN(lhs, expr)                                        \
  auto UDMG_CONCAT_(assert_result_, __LINE__) = (expr);                             \
  ASSERT_TRUE(UDMG_CONCAT_(assert_result_, __LINE__).ok())                          \
      << UDMG_CONCAT_(assert_result_, __LINE__).error().message;                    \
  lhs = std::move(UDMG_CONCAT_(assert_result_, __LINE__)).value()

#define UDMG_ASSERT_OK(expr)                        \
  do {                                              \
    ::udmg::Status assert_status_ = (expr);         \
    ASSERT_TRUE(assert_status_.ok()) << assert_status_.message(); \
  } while (0)

}  // namespace udmg::testing
