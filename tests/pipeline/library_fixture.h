// The demo database of db::testing::DemoStoreTest (one per test, on each backend) plus what the
// library tests need: clients on new connections, root-key rotation, a second empty database, and
// encryption under the active version.
//
// Tests written with TEST_P run on every backend of db::testing::AllBackends() (instantiate them
// with UDMG_INSTANTIATE_FOR_ALL_BACKENDS); tests still written with TEST_F run on SQLite only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "db/store.h"
#include "engine/secret.h"
#include "pipeline/secrets.h"
#include "tests/db/demo_store_fixture.h"
#include "tests/db/store_test_support.h"

namespace udmg::testing {

class LibraryTest : public db::testing::DemoStoreTest {
 protected:
  void TearDown() override;

  // A connection to another, empty database on the same backend (migrated, no keyring).
  std::unique_ptr<db::Store> OpenEmptyStore();
  // A client on a new connection with `k0` (the current K0 when not given).
  std::unique_ptr<pipeline::SecretsClient> OpenClient();
  std::unique_ptr<pipeline::SecretsClient> OpenClient(std::unique_ptr<db::Store> store);

  // New root version; k0() becomes the new key (the old one is returned).
  SecretBytes RotateRootKey();

  // `count` rows id 1..count, secret = "secret-<id>" encrypted under the active version.
  void InsertEncryptedRows(int64_t count);
  // Envelope of `plaintext` under the current active version.
  std::string EncryptUnderActive(std::string_view plaintext);
  // The plaintext of an envelope (must decrypt).
  std::string Decrypt(std::string_view envelope);

 private:
  std::unique_ptr<db::testing::TestDatabase> empty_database_;
};

}  // namespace udmg::testing
