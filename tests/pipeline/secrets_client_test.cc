// pipeline::SecretsClient: read, gradual migration on read, write, and keyring refresh between
// two clients on the same SQLite file.
#include "pipeline/secrets.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/envelope.h"
#include "engine/value_cipher.h"
#include "tests/pipeline/hooked_store.h"
#include "tests/pipeline/library_fixture.h"

namespace udmg::testing {
namespace {

using pipeline::ReadOutcome;
using pipeline::SecretsClient;

// A read's plaintext as text; a NULL read (nullopt) fails the comparison instead of being
// dereferenced.
std::string Text(const std::optional<SecretBytes>& bytes) {
  return bytes ? std::string(AsText(*bytes)) : "(NULL)";
}

class SecretsClientTest : public LibraryTest {};

TEST_P(SecretsClientTest, WritesUnderActiveVersionAndReadsBack) {
  InsertRows({{1, "old"}});
  auto client = OpenClient();
  ASSERT_NE(client, nullptr);
  std::string value("a\0b\n", 4);  // exact bytes, including NUL and newline
  ASSERT_OK(client->Write(Secrets(), db::RowKey{1}, AsBytes(value)));
  EXPECT_TRUE(RawValue(1)->starts_with("udmg:v1:"));
  ASSERT_OK_AND_ASSIGN(ReadOutcome outcome, client->Read(Secrets(), db::RowKey{1}));
  ASSERT_TRUE(outcome.plaintext.has_value());
  EXPECT_EQ(Text(outcome.plaintext), value);
  EXPECT_EQ(outcome.version, 1u);
  EXPECT_FALSE(outcome.migrated);
  EXPECT_FALSE(outcome.legacy_plaintext);
}

TEST_P(SecretsClientTest, EmptyPlaintextRoundTrips) {
  InsertRows({{1, "x"}});
  auto client = OpenClient();
  ASSERT_OK(client->Write(Secrets(), db::RowKey{1}, {}));
  ASSERT_OK_AND_ASSIGN(ReadOutcome outcome, client->Read(Secrets(), db::RowKey{1}));
  ASSERT_TRUE(outcome.plaintext.has_value());
  EXPECT_TRUE(outcome.plaintext->empty());
}

TEST_P(SecretsClientTest, OpenRefusesUninitializedDatabaseAndWrongKey) {
  auto empty = SecretsClient::Open(OpenEmptyStore(), k0());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kNotInitialized);
  auto wrong = SecretsClient::Open(OpenStore(), RandomSecret(32));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kWrongKey);
}

TEST_P(SecretsClientTest, MissingRowIsNotFoundAndWriteNeverInserts) {
  auto client = OpenClient();
  auto read = client->Read(Secrets(), db::RowKey{42});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto counts_before, store().LoadEncryptions());
  Status write = client->Write(Secrets(), db::RowKey{42}, AsBytes("v"));
  EXPECT_EQ(write.code(), ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto counts_after, store().LoadEncryptions());
  EXPECT_EQ(counts_after, counts_before) << "a refused write changes nothing";
  auto row = store().ReadValue(Secrets(), db::RowKey{42});
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
}

TEST_P(SecretsClientTest, NullStaysNullAndPlaintextIsReturnedAsIs) {
  InsertRows({{1, "x"}, {2, "legacy password"}});
  SetRawValue(1, std::nullopt);
  auto client = OpenClient();
  ASSERT_OK_AND_ASSIGN(ReadOutcome null_read, client->Read(Secrets(), db::RowKey{1}));
  EXPECT_FALSE(null_read.plaintext.has_value());
  EXPECT_FALSE(RawValue(1).has_value());

  ASSERT_OK_AND_ASSIGN(ReadOutcome legacy, client->Read(Secrets(), db::RowKey{2}));
  EXPECT_TRUE(legacy.legacy_plaintext);
  EXPECT_FALSE(legacy.migrated);
  EXPECT_EQ(Text(legacy.plaintext), "legacy password");
  EXPECT_EQ(RawValue(2), "legacy password");  // not encrypted behind the operator's back
}

TEST_P(SecretsClientTest, StaleValueIsMigratedOnRead) {
  InsertEncryptedRows(2);
  auto client = OpenClient();  // opened on version 1
  ASSERT_EQ(RotateMasterKey(), 2u);
  ASSERT_OK_AND_ASSIGN(ReadOutcome first, client->Read(Secrets(), db::RowKey{1}));
  EXPECT_EQ(Text(first.plaintext), "secret-1");
  EXPECT_EQ(first.version, 1u);
  EXPECT_TRUE(first.migrated);
  std::string migrated = *RawValue(1);
  EXPECT_TRUE(migrated.starts_with("udmg:v2:")) << migrated;
  EXPECT_EQ(Decrypt(migrated), "secret-1");
  EXPECT_TRUE(RawValue(2)->starts_with("udmg:v1:"));  // only the row read moves

  ASSERT_OK_AND_ASSIGN(ReadOutcome second, client->Read(Secrets(), db::RowKey{1}));
  EXPECT_EQ(second.version, 2u);
  EXPECT_FALSE(second.migrated);
  EXPECT_EQ(*RawValue(1), migrated);
}

// A store whose session says read-only (a hot standby): every write it is asked for fails the
// test, so the client must not try one.
class ReadOnlyStore : public db::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  db::SessionAccess Access() const override { return {.read_only = true, .standby = true}; }
  Result<std::vector<db::CasOutcome>> CompareAndSwapChecked(
      const db::ColumnRef& column, std::span<const db::CasWrite> writes) override {
    ADD_FAILURE() << "write-back on a read-only session";
    return ForwardingStore::CompareAndSwapChecked(column, writes);
  }
  Result<EncryptionCounts> AddEncryptions(const EncryptionCounts& by_version) override {
    ADD_FAILURE() << "encryption count on a read-only session";
    return ForwardingStore::AddEncryptions(by_version);
  }
  Status RecordNode(const db::NodeRecord& node) override {
    ADD_FAILURE() << "node record on a read-only session";
    return ForwardingStore::RecordNode(node);
  }
};

TEST_P(SecretsClientTest, ReadOnlySessionReturnsStaleValuesWithoutWritingAndWarnsOnce) {
  InsertEncryptedRows(3);
  RotateMasterKey();
  std::vector<std::string> warnings;
  auto client = OpenClient(std::make_unique<ReadOnlyStore>(OpenStore()));
  ASSERT_NE(client, nullptr);
  client->set_warning_sink([&](std::string_view line, std::string_view) { warnings.emplace_back(line); });
  for (int64_t id : {1, 2, 3, 1}) {
    ASSERT_OK_AND_ASSIGN(ReadOutcome read, client->Read(Secrets(), db::RowKey{id}));
    EXPECT_EQ(Text(read.plaintext), "secret-" + std::to_string(id));
    EXPECT_EQ(read.version, 1u);
    EXPECT_FALSE(read.migrated);
    EXPECT_TRUE(RawValue(id)->starts_with("udmg:v1:"));
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].rfind("the database is a hot standby: stale values are returned but not "
                              "re-encrypted under master key version 2",
                              0),
            0u)
      << warnings[0];
}

TEST_P(SecretsClientTest, LostCompareAndSwapKeepsTheConcurrentWrite) {
  InsertEncryptedRows(1);
  RotateMasterKey();
  std::string concurrent = EncryptUnderActive("written meanwhile");
  auto other_writer = OpenStore();
  auto hooked = std::make_unique<HookedStore>(OpenStore(), [&] {
    ASSERT_TRUE(other_writer->WriteValue(Secrets(), db::RowKey{1}, concurrent).ok());
  });
  auto client = OpenClient(std::move(hooked));
  ASSERT_OK_AND_ASSIGN(ReadOutcome outcome, client->Read(Secrets(), db::RowKey{1}));
  EXPECT_EQ(Text(outcome.plaintext), "secret-1");  // what was read
  EXPECT_FALSE(outcome.migrated);
  EXPECT_EQ(*RawValue(1), concurrent);  // never overwritten
}

TEST_P(SecretsClientTest, SecondClientNoticesRotationBeforeItsNextWrite) {
  InsertRows({{1, "x"}, {2, "y"}});
  auto writer = OpenClient();
  auto rotator = OpenClient();
  // The rotation is made through the other client's own connection.
  SecretBytes k1 = RandomSecret(32);
  ASSERT_OK(rotator->store().UpdateKeyring([&](const std::optional<KeyringRecords>& current) {
    return udmg::RotateMasterKey(*current, k0(), k1, 1700000300);
  }));
  EXPECT_EQ(writer->keyring().active_version(), 1u);
  ASSERT_OK(writer->Write(Secrets(), db::RowKey{1}, AsBytes("after rotation")));
  EXPECT_EQ(writer->keyring().active_version(), 2u);
  EXPECT_TRUE(RawValue(1)->starts_with("udmg:v2:"));
  EXPECT_EQ(Decrypt(*RawValue(1)), "after rotation");
}

TEST_P(SecretsClientTest, ValueUnderUnknownVersionMakesReaderRefresh) {
  InsertRows({{1, "x"}});
  auto reader = OpenClient();  // knows version 1 only
  auto writer = OpenClient();
  RotateMasterKey();
  ASSERT_OK(writer->Write(Secrets(), db::RowKey{1}, AsBytes("new version")));
  ASSERT_TRUE(RawValue(1)->starts_with("udmg:v2:"));
  ASSERT_OK_AND_ASSIGN(ReadOutcome outcome, reader->Read(Secrets(), db::RowKey{1}));
  EXPECT_EQ(Text(outcome.plaintext), "new version");
  EXPECT_EQ(reader->keyring().active_version(), 2u);
}

TEST_P(SecretsClientTest, ClientWhoseRootKeyBecameOldGetsWrongKey) {
  InsertEncryptedRows(2);
  auto client = OpenClient();
  RotateRootKey();
  RotateMasterKey();
  auto current = OpenClient();  // a node already on the new K0
  ASSERT_OK(current->Write(Secrets(), db::RowKey{2}, AsBytes("under version 2")));
  std::string row1 = *RawValue(1);
  std::string row2 = *RawValue(2);

  Status write = client->Write(Secrets(), db::RowKey{1}, AsBytes("must not land"));
  EXPECT_EQ(write.code(), ErrorCode::kWrongKey) << write.message();
  EXPECT_NE(write.message().find('1'), std::string::npos) << write.message();
  EXPECT_NE(write.message().find('2'), std::string::npos) << write.message();
  // A value under a version it does not know makes it refresh, and the refresh refuses it.
  auto read = client->Read(Secrets(), db::RowKey{2});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kWrongKey);
  EXPECT_EQ(client->RefreshKeyring().code(), ErrorCode::kWrongKey);
  EXPECT_EQ(*RawValue(1), row1);
  EXPECT_EQ(*RawValue(2), row2);
}

TEST_P(SecretsClientTest, CorruptValueIsReportedAndLeftAlone) {
  InsertEncryptedRows(2);
  std::string envelope = *RawValue(1);
  envelope[envelope.size() - 3] = envelope[envelope.size() - 3] == 'A' ? 'B' : 'A';
  SetRawValue(1, envelope);
  SetRawValue(2, "udmg:v01:AAAA");  // leading zero: malformed
  auto client = OpenClient();
  for (int64_t id : {1, 2}) {
    auto read = client->Read(Secrets(), db::RowKey{id});
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().code, ErrorCode::kCorruptValue) << read.error().message;
    EXPECT_NE(read.error().message.find("credentials.secret id=" + std::to_string(id)),
              std::string::npos);
  }
  EXPECT_EQ(*RawValue(1), envelope);
  EXPECT_EQ(*RawValue(2), "udmg:v01:AAAA");
}

TEST_P(SecretsClientTest, EncryptionsAreCountedAndWarnedPastTheNonceBudget) {
  InsertEncryptedRows(1);
  auto client = OpenClient();
  std::vector<std::string> warnings;
  client->set_warning_sink([&](std::string_view line, std::string_view) { warnings.emplace_back(line); });
  ASSERT_OK(client->Write(Secrets(), db::RowKey{1}, AsBytes("one")));
  ASSERT_OK_AND_ASSIGN(auto counts, store().LoadEncryptions());
  EXPECT_EQ(counts[1], 1u);
  EXPECT_TRUE(warnings.empty());

  ASSERT_OK(store().AddEncryptions({{1, kNonceWarnEncryptions}}).status());
  ASSERT_OK(client->Write(Secrets(), db::RowKey{1}, AsBytes("two")));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("master key version 1"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("rotate-master-key"), std::string::npos);
}

// Row binding comes from the registry, not from the caller's ColumnRef: a client given an
// unbound ColumnRef (as library code written before binding existed) still writes the bound form
// once another process bound the column, and sees that on its very next call.
TEST_P(SecretsClientTest, BindingMadeElsewhereIsSeenOnTheNextCallWhateverTheCallerPasses) {
  InsertRows({{1, "x"}, {2, "y"}});
  auto client = OpenClient();
  ASSERT_OK(client->Write(Secrets(), db::RowKey{1}, AsBytes("before")));
  EXPECT_TRUE(RawValue(1)->starts_with("udmg:v1:"));

  auto other = OpenClient();
  ASSERT_OK_AND_ASSIGN(db::ColumnRef bound,
                       other->store().SetColumnBinding("credentials", "secret", true));
  ASSERT_EQ(bound.bound_since, std::optional<uint32_t>(2));
  db::ColumnRef unbound_ref = Secrets();
  unbound_ref.bound_since.reset();

  ASSERT_OK(client->Write(unbound_ref, db::RowKey{2}, AsBytes("after")));
  EXPECT_TRUE(RawValue(2)->starts_with("udmg:b1:")) << *RawValue(2);
  // The unbound value written before binding (version 1 < 2) is still read, and migrated.
  ASSERT_OK_AND_ASSIGN(ReadOutcome outcome, client->Read(unbound_ref, db::RowKey{1}));
  EXPECT_EQ(Text(outcome.plaintext), "before");
  EXPECT_TRUE(outcome.migrated);
  EXPECT_TRUE(RawValue(1)->starts_with("udmg:b1:")) << *RawValue(1);

  // Row 2's bound value copied into row 1 no longer decrypts there.
  const std::string moved = *RawValue(2);
  ASSERT_OK(store().WriteValue(Secrets(), db::RowKey{1}, moved));
  Result<ReadOutcome> refused = client->Read(unbound_ref, db::RowKey{1});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruptValue);
  EXPECT_EQ(*RawValue(1), moved);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(SecretsClientTest);

}  // namespace
}  // namespace udmg::testing
