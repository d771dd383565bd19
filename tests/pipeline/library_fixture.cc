#include "tests/pipeline/library_fixture.h"

#include <utility>
#include <vector>

#include "engine/keyring.h"
#include "engine/root_key.h"
#include "engine/value_cipher.h"

namespace udmg::testing {

void LibraryTest::TearDown() {
  empty_database_.reset();
  DemoStoreTest::TearDown();
}

std::unique_ptr<db::Store> LibraryTest::OpenEmptyStore() {
  if (empty_database_ == nullptr) empty_database_ = db::testing::CurrentBackend().make_database();
  if (empty_database_ == nullptr) return nullptr;
  auto store = db::OpenStore(empty_database_->url());
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store.ok()) return nullptr;
  EXPECT_TRUE((*store)->Migrate().ok());
  return std::move(store).value();
}

std::unique_ptr<pipeline::SecretsClient> LibraryTest::OpenClient() {
  return OpenClient(OpenStore());
}

std::unique_ptr<pipeline::SecretsClient> LibraryTest::OpenClient(
    std::unique_ptr<db::Store> store) {
  auto client = pipeline::SecretsClient::Open(std::move(store), k0());
  EXPECT_TRUE(client.ok()) << client.error().message;
  if (!client.ok()) return nullptr;
  return std::move(client).value();
}

SecretBytes LibraryTest::RotateRootKey() {
  SecretBytes new_k0 = RandomSecret(kKeySize);
  Status status = store().UpdateKeyring([&](const std::optional<KeyringRecords>& current) {
    return udmg::RotateRootKey(*current, k0(), new_k0, 1700000200);
  });
  EXPECT_TRUE(status.ok()) << status.message();
  return ReplaceK0(std::move(new_k0));
}

void LibraryTest::InsertEncryptedRows(int64_t count) {
  std::vector<std::pair<int64_t, std::string>> rows;
  for (int64_t id = 1; id <= count; ++id) {
    rows.emplace_back(id, EncryptUnderActive("secret-" + std::to_string(id)));
  }
  InsertRows(rows);
}

std::string LibraryTest::EncryptUnderActive(std::string_view plaintext) {
  ValueCipher cipher(LoadKeyring());
  auto envelope = cipher.Encrypt(plaintext);
  EXPECT_TRUE(envelope.ok());
  return envelope.ok() ? *envelope : std::string();
}

std::string LibraryTest::Decrypt(std::string_view envelope) {
  ValueCipher cipher(LoadKeyring());
  auto plaintext = cipher.Decrypt(envelope);
  EXPECT_TRUE(plaintext.ok()) << plaintext.error().message;
  if (!plaintext.ok()) return "<does not decrypt>";
  return std::string(AsText(*plaintext));
}

}  // namespace udmg::testing
