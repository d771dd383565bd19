#include "tests/db/demo_store_fixture.h"

#include "engine/root_key.h"

namespace udmg::db::testing {

const ColumnRef& DemoStoreTest::Secrets() {
  static const ColumnRef kSecrets{"credentials", "secret", "id"};
  return kSecrets;
}

void DemoStoreTest::SetUp() {
  database_ = CurrentBackend().make_database();
  ASSERT_NE(database_, nullptr);
  url_ = database_->url();
  k0_ = RandomSecret(kKeySize);
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  SecretBytes k1 = RandomSecret(kKeySize);
  ASSERT_OK(store_->UpdateKeyring([&](const std::optional<KeyringRecords>&) {
    return Result<KeyringRecords>(NewKeyringRecords(k0_, k1, 1700000000));
  }));
  ASSERT_OK_AND_ASSIGN(demo_table_, OpenDemoTable(url_));
  ASSERT_OK(demo_table_->Create());
  ASSERT_OK(store_->AddColumn(Secrets()));
}

void DemoStoreTest::TearDown() {
  demo_table_.reset();  // the connections before the database they are connected to
  store_.reset();
  database_.reset();
}

std::unique_ptr<Store> DemoStoreTest::OpenStore() {
  auto store = db::OpenStore(url_);
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store.ok()) return nullptr;
  Status migrated = (*store)->Migrate();
  EXPECT_TRUE(migrated.ok()) << migrated.message();
  return std::move(store).value();
}

std::shared_ptr<const Keyring> DemoStoreTest::LoadKeyring() {
  auto records = store_->LoadKeyring();
  EXPECT_TRUE(records.ok() && records->has_value());
  if (!records.ok() || !records->has_value()) return nullptr;
  auto keyring = Keyring::Open(**records, k0_);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  return keyring.ok() ? *keyring : nullptr;
}

uint32_t DemoStoreTest::RotateMasterKey() {
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

void DemoStoreTest::InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows) {
  std::vector<DemoRow> demo;
  for (const auto& [id, secret] : rows) demo.push_back({id, "row-" + std::to_string(id), secret});
  ASSERT_OK(demo_table_->Insert(demo));
}

std::optional<std::string> DemoStoreTest::RawValue(int64_t id) {
  auto stored = store_->ReadValue(Secrets(), RowKey{id});
  EXPECT_TRUE(stored.ok() && stored->has_value()) << "row " << id;
  if (!stored.ok() || !stored->has_value()) return std::nullopt;
  return (*stored)->value;
}

void DemoStoreTest::SetRawValue(int64_t id, const std::optional<std::string>& value) {
  ASSERT_OK(store_->WriteValue(Secrets(), RowKey{id}, value));
}

}  // namespace udmg::db::testing
