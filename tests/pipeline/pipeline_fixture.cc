#include "tests/pipeline/pipeline_fixture.h"

#include "engine/root_key.h"
#include "engine/value_cipher.h"

namespace udmg::testing {

const db::ColumnRef& PipelineTest::Secrets() {
  static const db::ColumnRef kSecrets{"credentials", "secret", "id"};
  return kSecrets;
}

void PipelineTest::SetUp() {
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

void PipelineTest::TearDown() {
  store_.reset();  // before the database it is connected to
  database_.reset();
}

std::unique_ptr<db::Store> PipelineTest::OpenStore() {
  auto store = db::OpenStore(url_);
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store.ok()) return nullptr;
  Status migrated = (*store)->Migrate();
  EXPECT_TRUE(migrated.ok()) << migrated.message();
  return std::move(store).value();
}

std::shared_ptr<const Keyring> PipelineTest::LoadKeyring() {
  auto records = store_->LoadKeyring();
  EXPECT_TRUE(records.ok() && records->has_value());
  auto keyring = Keyring::Open(**records, k0_);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  return keyring.ok() ? *keyring : nullptr;
}

uint32_t PipelineTest::RotateMasterKey() {
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

void PipelineTest::InsertEncryptedRows(int64_t first, int64_t last) {
  std::shared_ptr<const Keyring> keyring = LoadKeyring();
  ASSERT_NE(keyring, nullptr);
  ValueCipher cipher(keyring);
  std::vector<db::DemoRow> rows;
  for (int64_t id = first; id <= last; ++id) {
    auto envelope = cipher.Encrypt(PlaintextOf(id));
    ASSERT_TRUE(envelope.ok());
    rows.push_back({id, "row-" + std::to_string(id), *envelope});
  }
  UDMG_ASSERT_OK(store_->InsertDemoRows(rows));
}

void PipelineTest::InsertRows(const std::vector<std::pair<int64_t, std::string>>& rows) {
  std::vector<db::DemoRow> demo;
  for (const auto& [id, secret] : rows) demo.push_back({id, "row-" + std::to_string(id), secret});
  UDMG_ASSERT_OK(store_->InsertDemoRows(demo));
}

std::optional<std::string> PipelineTest::RawValue(int64_t id) {
  auto stored = store_->ReadValue(Secrets(), db::RowKey{id});
  EXPECT_TRUE(stored.ok() && stored->has_value()) << "row " << id;
  if (!stored.ok() || !stored->has_value()) return std::nullopt;
  return (*stored)->value;
}

void PipelineTest::SetRawValue(int64_t id, const std::string& value) {
  UDMG_ASSERT_OK(store_->WriteValue(Secrets(), db::RowKey{id}, value));
}

std::string PipelineTest::EncryptUnder(const std::shared_ptr<const Keyring>& keyring,
                                       std::string_view text) {
  ValueCipher cipher(keyring);
  auto envelope = cipher.Encrypt(text);
  EXPECT_TRUE(envelope.ok());
  return envelope.ok() ? *envelope : std::string();
}

std::string PipelineTest::DecryptRow(int64_t id) {
  std::optional<std::string> value = RawValue(id);
  if (!value) return "<null>";
  ValueCipher cipher(LoadKeyring());
  auto plaintext = cipher.Decrypt(*value);
  EXPECT_TRUE(plaintext.ok()) << "row " << id << ": " << plaintext.error().message;
  return plaintext.ok() ? std::string(AsText(*plaintext)) : std::string();
}

void PipelineTest::ExpectMigrated(int64_t first, int64_t last, uint32_t version) {
  ValueCipher cipher(LoadKeyring());
  std::string prefix = "udmg:v" + std::to_string(version) + ":";
  int mismatches = 0;
  for (int64_t id = first; id <= last && mismatches < 5; ++id) {
    std::optional<std::string> value = RawValue(id);
    ASSERT_TRUE(value.has_value()) << "row " << id << " is NULL";
    auto plaintext = cipher.Decrypt(*value);
    bool ok = value->starts_with(prefix) && plaintext.ok() &&
              AsText(*plaintext) == PlaintextOf(id);
    if (!ok) ++mismatches;
    EXPECT_TRUE(ok) << "row " << id << " is not " << PlaintextOf(id) << " under " << prefix;
  }
}

uint64_t PipelineTest::CountStale(uint32_t target_version) {
  auto count = store_->CountStale(Secrets(), db::StaleFilter{target_version, false});
  EXPECT_TRUE(count.ok());
  return count.ok() ? *count : ~uint64_t{0};
}

pipeline::ReencryptOptions PipelineTest::Options() {
  pipeline::ReencryptOptions options;
  options.database_url = url_;
  options.keyring = LoadKeyring();
  std::shared_ptr<StoreFaults> faults = faults_;
  options.open_store = [faults](std::string_view url) -> Result<std::unique_ptr<db::Store>> {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> inner, db::OpenStore(url));
    return std::unique_ptr<db::Store>(std::make_unique<FaultStore>(std::move(inner), faults));
  };
  options.warn = [](std::string_view) {};
  return options;
}

}  // namespace udmg::testing
