#include "tests/library/library_fixture.h"


#include "engine/keyring.h"
#include "engine/root_key.h"
#include "engine/value_cipher.h"

namespace udmg::testing {

const db::ColumnRef& LibraryTest::Secrets() {
  static const db::ColumnRef kSecrets{"credentials", "secret", "id"};
  return kSecrets;
}

void LibraryTest::SetUp() {
  database_ = db::testing::CurrentBackend().make_database();
  ASSERT_NE(database_, nullptr);
  url_ = database_->url();
  k0_ = RandomSecret(kKeySize);
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  SecretBytes k1 = RandomSecret(kKeySize);
  UDMG_ASSERT_OK(store_->UpdateKeyring([&](const std::optional<KeyringRecords>&) {
    return Result<KeyringRecords>(NewKeyringRecords(k0_, k1, 1700000000));
  }));
  UDMG_ASSERT_OK(store_->CreateDemoTable());
  UDMG_ASSERT_OK(store_->AddColumn(Secrets()));
}

void LibraryTest::TearDown() {
  store_.reset();  // before the database it is connected to
  empty_database_.reset();
  database_.reset();
}

std::unique_ptr<db::Store> LibraryTest::OpenStore() {
  auto store = db::OpenStore(url_);
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store.ok()) return nullptr;
  Status migrated = (*store)->Migrate();
  EXPECT_TRUE(migrated.ok()) << migrated.message();
  return std::move(store).value();
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
  auto client = pipeline::SecretsClient::Open(std::move(store), k0_);
  EXPECT_TRUE(client.ok()) << client.error().message;
  if (!client.ok()) return nullptr;
  return std::move(client).value();
}

uint32_t LibraryTest::RotateMasterKey() {
  uint32_t active = 0;
  SecretBytes k1 = RandomSecret(kKeySize);
  Status status = store_->UpdateKeyring([&](const std::optional<KeyringRecords>& current) {
    auto rotated = udmg::RotateMasterKey(*current, k0_, k1, 1700000100);
    if (rotated.ok()) active = rotated->masters.back().version;
    return rotated;
  });
  EXPECT_TRUE(status.ok()) << status.message();
  return active;
}

SecretBytes LibraryTest::RotateRootKey() {
  SecretBytes new_k0 = RandomSecret(kKeySize);
  Status status = store_->UpdateKeyring([&](const std::optional<KeyringRecords>& current) {
    return udmg::RotateRootKey(*current, k0_, new_k0, 1700000200);
  });
  EXPECT_TRUE(status.ok()) << status.message();
  std::swap(k0_, new_k0);
  return new_k0;
}

void LibraryTest::InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows) {
  std::vector<db::DemoRow> demo;
  for (const auto& [id, secret] : rows) demo.push_back({id, "row-" + std::to_string(id), secret});
  Status status = store_->InsertDemoRows(demo);
  ASSERT_TRUE(status.ok()) << status.message();
}

void LibraryTest::InsertEncryptedRows(int64_t count) {
  std::vector<std::pair<int64_t, std::string>> rows;
  for (int64_t id = 1; id <= count; ++id) {
    rows.emplace_back(id, EncryptUnderActive("secret-" + std::to_string(id)));
  }
  InsertRows(rows);
}

std::optional<std::string> LibraryTest::RawValue(int64_t id) {
  auto stored = store_->ReadValue(Secrets(), db::RowKey{id});
  EXPECT_TRUE(stored.ok() && stored->has_value());
  if (!stored.ok() || !stored->has_value()) return std::nullopt;
  return (*stored)->value;
}

void LibraryTest::SetRawValue(int64_t id, const std::optional<std::string>& value) {
  Status status = store_->WriteValue(Secrets(), db::RowKey{id}, value);
  ASSERT_TRUE(status.ok()) << status.message();
}

std::string LibraryTest::EncryptUnderActive(std::string_view plaintext) {
  auto records = store_->LoadKeyring();
  auto keyring = Keyring::Open(**records, k0_);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  ValueCipher cipher(*keyring);
  auto envelope = cipher.Encrypt(plaintext);
  EXPECT_TRUE(envelope.ok());
  return *envelope;
}

std::string LibraryTest::Decrypt(std::string_view envelope) {
  auto records = store_->LoadKeyring();
  auto keyring = Keyring::Open(**records, k0_);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  ValueCipher cipher(*keyring);
  auto plaintext = cipher.Decrypt(envelope);
  EXPECT_TRUE(plaintext.ok()) << plaintext.error().message;
  if (!plaintext.ok()) return "<does not decrypt>";
  return std::string(AsText(*plaintext));
}

}  // namespace udmg::testing
