// A fresh database per test on each backend (a SQLite file in a temp directory, or a PostgreSQL
// schema of its own; removed afterwards) with a keyring, the demo
// table credentials(id, name, secret) registered, helpers to fill it under a master version,
// rotate, and check every row afterwards; and job options whose connections go through a
// FaultStore sharing `faults()`. TEST_P tests run on every backend of db::testing::AllBackends()
// (UDMG_INSTANTIATE_FOR_ALL_BACKENDS); TEST_F tests on SQLite only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/store.h"
#include "engine/keyring.h"
#include "engine/secret.h"
#include "pipeline/reencrypt.h"
#include "tests/db/store_test_support.h"
#include "tests/pipeline/fault_store.h"

namespace udmg::testing {

class PipelineTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  static const db::ColumnRef& Secrets();
  static std::string PlaintextOf(int64_t id) { return "secret-" + std::to_string(id); }

  std::unique_ptr<db::Store> OpenStore();
  std::shared_ptr<const Keyring> LoadKeyring();
  uint32_t RotateMasterKey();  // returns the new active version

  // Rows first..last with PlaintextOf(id) encrypted under the active version.
  void InsertEncryptedRows(int64_t first, int64_t last);
  void InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows);
  std::optional<std::string> RawValue(int64_t id);
  void SetRawValue(int64_t id, const std::string& value);
  std::string EncryptUnder(const std::shared_ptr<const Keyring>& keyring, std::string_view text);
  // The plaintext of row `id` (fails the test when it does not decrypt).
  std::string DecryptRow(int64_t id);

  // Every row in first..last is under `version` and holds PlaintextOf(id).
  void ExpectMigrated(int64_t first, int64_t last, uint32_t version);
  uint64_t CountStale(uint32_t target_version);

  // Options for a job on this database to the current active version; connections go through
  // FaultStore with faults(); no nonce warnings printed.
  pipeline::ReencryptOptions Options();
  StoreFaults& faults() { return *faults_; }
  const SecretBytes& k0() const { return k0_; }
  db::Store& store() { return *store_; }
  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<db::testing::TestDatabase> database_;
  std::string url_;
  SecretBytes k0_;
  std::unique_ptr<db::Store> store_;
  std::shared_ptr<StoreFaults> faults_ = std::make_shared<StoreFaults>();
};

#define UDMG_ASSERT_OK_AND_ASSIGN(lhs, expr)                        \
  auto UDMG_CONCAT_(assert_result_, __LINE__) = (expr);             \
  ASSERT_TRUE(UDMG_CONCAT_(assert_result_, __LINE__).ok())          \
      << UDMG_CONCAT_(assert_result_, __LINE__).error().message;    \
  lhs = std::move(UDMG_CONCAT_(assert_result_, __LINE__)).value()

#define UDMG_ASSERT_OK(expr)                                      \
  do {                                                            \
    ::udmg::Status assert_status_ = (expr);                       \
    ASSERT_TRUE(assert_status_.ok()) << assert_status_.message(); \
  } while (0)

}  // namespace udmg::testing
