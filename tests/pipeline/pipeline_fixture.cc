#include "tests/pipeline/pipeline_fixture.h"

#include <optional>
#include <vector>

#include "engine/value_cipher.h"

namespace udmg::testing {

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
  ASSERT_OK(demo_table().Insert(rows));
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
  auto count = store().CountStale(Secrets(), db::StaleFilter{target_version, false});
  EXPECT_TRUE(count.ok());
  return count.ok() ? *count : ~uint64_t{0};
}

pipeline::ReencryptOptions PipelineTest::Options() {
  pipeline::ReencryptOptions options;
  options.database_url = url();
  options.keyring = LoadKeyring();
  std::shared_ptr<StoreFaults> faults = faults_;
  options.open_store = [faults](std::string_view url) -> Result<std::unique_ptr<db::Store>> {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> inner, db::OpenStore(url));
    return std::unique_ptr<db::Store>(std::make_unique<FaultStore>(std::move(inner), faults));
  };
  options.warn = [](std::string_view, std::string_view) {};
  return options;
}

pipeline::ReencryptOptions PipelineTest::Options(size_t batch_size) {
  pipeline::ReencryptOptions options = Options();
  options.batch_size = batch_size;
  return options;
}

}  // namespace udmg::testing
