// Store's registry of encrypted columns on every backend: add, find, list, remove, and every
// refusal (bad identifiers, missing table/column/key column, non-unique key, duplicates).
#include "engine/audit_chain.h"
#include "engine/keyring.h"
#include "engine/root_key.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

class StoreColumnsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    database_->Execute("CREATE TABLE credentials (id INTEGER PRIMARY KEY, name TEXT, secret TEXT)");
    database_->Execute(
        "CREATE TABLE tokens (token_id TEXT NOT NULL UNIQUE, value TEXT, note TEXT)");
  }
};

TEST_P(StoreColumnsTest, AddFindListRemove) {
  ASSERT_OK(store_->AddColumn({"tokens", "value", "token_id"}));
  ASSERT_OK(store_->AddColumn({"credentials", "secret", "id"}));
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, OpenAnother()->ListColumns());
  EXPECT_EQ(columns, (std::vector<ColumnRef>{{"credentials", "secret", "id"},
                                             {"tokens", "value", "token_id"}}));
  ASSERT_OK_AND_ASSIGN(ColumnRef found, store_->FindColumn("tokens", "value"));
  EXPECT_EQ(found, (ColumnRef{"tokens", "value", "token_id"}));

  ASSERT_OK(store_->RemoveColumn("tokens", "value"));
  EXPECT_STATUS(store_->FindColumn("tokens", "value").status(), kNotFound, "'tokens.value'");
  EXPECT_STATUS(store_->RemoveColumn("tokens", "value"), kNotFound, "is not registered");
  ASSERT_OK_AND_ASSIGN(columns, store_->ListColumns());
  EXPECT_EQ(columns.size(), 1u);
}

// A process whose K0 stopped being current after it checked it (another process rotated the root
// key) cannot seal its change: the change is refused rather than recorded unsealed.
TEST_P(StoreColumnsTest, AChangeSignedByARootKeyNoLongerCurrentIsRefused) {
  const SecretBytes old_k0 = RandomSecret(32), new_k0 = RandomSecret(32);
  KeyringRecords records = NewKeyringRecords(old_k0, RandomSecret(32), 1000);
  ASSERT_OK_AND_ASSIGN(records, RotateRootKey(records, old_k0, new_k0, 2000));
  ASSERT_OK(store_->UpdateKeyring(
      [&](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> { return records; }));
  store_->SetAuditSigner(AuditSigner{"gw-1", "ops", 42, "udmg-server columns add",
                                     RootKeyFingerprint(old_k0), DeriveAuditKey(old_k0)});
  const std::string before = database_->Dump();
  EXPECT_STATUS(store_->AddColumn({"credentials", "secret", "id"}), kWrongKey,
                "no longer the current one");
  EXPECT_EQ(database_->Dump(), before);
  store_->SetAuditSigner(AuditSigner{"gw-1", "ops", 42, "udmg-server columns add",
                                     RootKeyFingerprint(new_k0), DeriveAuditKey(new_k0)});
  ASSERT_OK(store_->AddColumn({"credentials", "secret", "id"}));
}

TEST_P(StoreColumnsTest, RegisteringTwiceIsAConflict) {
  ASSERT_OK(store_->AddColumn({"credentials", "secret", "id"}));
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->AddColumn({"credentials", "secret", "id"}), kConflict,
                "already registered");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreColumnsTest, NamesThatAreNotPlainIdentifiersAreRefused) {
  std::string before = database_->Dump();
  const std::string too_long(64, 'a');
  for (const ColumnRef& bad :
       std::vector<ColumnRef>{{"credentials; DROP TABLE credentials", "secret", "id"},
                              {"credentials", "se\"cret", "id"},
                              {"credentials", "secret", "i d"},
                              {"1credentials", "secret", "id"},
                              {"", "secret", "id"},
                              {"credentials", "", "id"},
                              {"cred-entials", "secret", "id"},
                              {"crédentials", "secret", "id"},
                              {too_long, "secret", "id"}}) {
    EXPECT_STATUS(store_->AddColumn(bad), kBadInput, "not a plain SQL identifier");
  }
  std::string longest(63, 'a');
  EXPECT_STATUS(store_->AddColumn({longest, "secret", "id"}), kNotFound, "does not exist");
  EXPECT_STATUS(store_->AddColumn({"udmg_meta", "keyring_id", "singleton"}), kBadInput,
                "udmg-server itself");
  EXPECT_STATUS(store_->AddColumn({"credentials", "id", "id"}), kBadInput, "its own key column");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreColumnsTest, MissingTableColumnOrKeyColumnIsNamed) {
  EXPECT_STATUS(store_->AddColumn({"nope", "secret", "id"}), kNotFound,
                "table 'nope' does not exist");
  EXPECT_STATUS(store_->AddColumn({"Credentials", "secret", "id"}), kNotFound,
                "table 'Credentials' does not exist");
  EXPECT_STATUS(store_->AddColumn({"credentials", "nope", "id"}), kNotFound,
                "column 'credentials.nope' does not exist");
  EXPECT_STATUS(store_->AddColumn({"credentials", "secret", "nope"}), kNotFound,
                "key column 'credentials.nope' does not exist");
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, store_->ListColumns());
  EXPECT_TRUE(columns.empty());
}

TEST_P(StoreColumnsTest, KeyColumnMustIdentifyOneRow) {
  EXPECT_STATUS(store_->AddColumn({"credentials", "secret", "name"}), kBadInput, "not unique");
  EXPECT_STATUS(store_->AddColumn({"tokens", "value", "note"}), kBadInput, "not unique");
  // Unique but nullable: rows with a NULL key would be invisible to every scan.
  database_->Execute("CREATE UNIQUE INDEX credentials_name ON credentials (name)");
  EXPECT_STATUS(store_->AddColumn({"credentials", "secret", "name"}), kBadInput, "can hold NULL");
  ASSERT_OK(store_->AddColumn({"tokens", "value", "token_id"}));  // NOT NULL UNIQUE
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreColumnsTest);

}  // namespace
}  // namespace udmg::db::testing
