// The demo database of db::testing::DemoStoreTest (one per test, on each backend) plus helpers to
// fill it under a master version and check every row afterwards, and job options whose
// connections go through a FaultStore sharing `faults()`. TEST_P tests run on every backend of
// db::testing::AllBackends() (UDMG_INSTANTIATE_FOR_ALL_BACKENDS); TEST_F tests on SQLite only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "db/store.h"
#include "engine/keyring.h"
#include "pipeline/reencrypt.h"
#include "tests/db/demo_store_fixture.h"
#include "tests/db/store_test_support.h"
#include "tests/pipeline/fault_store.h"

namespace udmg::testing {

class PipelineTest : public db::testing::DemoStoreTest {
 protected:
  static std::string PlaintextOf(int64_t id) { return "secret-" + std::to_string(id); }

  // Rows first..last with PlaintextOf(id) encrypted under the active version.
  void InsertEncryptedRows(int64_t first, int64_t last);
  std::string EncryptUnder(const std::shared_ptr<const Keyring>& keyring, std::string_view text);
  // The plaintext of row `id` (fails the test when it does not decrypt).
  std::string DecryptRow(int64_t id);

  // Every row in first..last is under `version` and holds PlaintextOf(id).
  void ExpectMigrated(int64_t first, int64_t last, uint32_t version);
  uint64_t CountStale(uint32_t target_version);

  // Options for a job on this database to the current active version; connections go through
  // FaultStore with faults(); no nonce warnings printed.
  pipeline::ReencryptOptions Options();
  // The same, with batches of `batch_size` values.
  pipeline::ReencryptOptions Options(size_t batch_size);
  StoreFaults& faults() { return *faults_; }

 private:
  std::shared_ptr<StoreFaults> faults_ = std::make_shared<StoreFaults>();
};

}  // namespace udmg::testing
