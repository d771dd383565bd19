// The crypto stage on one batch (pipeline/flow_batch.h): what it writes, what it records as a
// failure, and what it leaves alone.
#include "pipeline/flow_batch.h"

#include <gtest/gtest.h>

#include "engine/root_key.h"
#include "engine/value_cipher.h"

namespace udmg::pipeline {
namespace {

const db::ColumnRef kPlain{"credentials", "secret", "id"};
const db::ColumnRef kBound{"credentials", "secret", "id", 3};

class FlowBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    k0_ = RandomSecret(kKeySize);
    KeyringRecords records = NewKeyringRecords(k0_, RandomSecret(kKeySize), 1700000000);
    auto v1 = Keyring::Open(records, k0_);
    ASSERT_TRUE(v1.ok());
    v1_ = *v1;
    auto rotated = RotateMasterKey(records, k0_, RandomSecret(kKeySize), 1700000100);
    ASSERT_TRUE(rotated.ok());
    auto v2 = Keyring::Open(*rotated, k0_);
    ASSERT_TRUE(v2.ok());
    v2_ = *v2;
  }
  std::string UnderV1(std::string_view text) {
    ValueCipher cipher(v1_);
    return *cipher.Encrypt(text);
  }

  SecretBytes k0_;
  std::shared_ptr<const Keyring> v1_;
  std::shared_ptr<const Keyring> v2_;
};

TEST_F(FlowBatchTest, IsStaleMatchesTheStorePredicate) {
  db::StaleFilter filter{7, false};
  EXPECT_FALSE(IsStale("udmg:v7:AAAA", kPlain, filter));
  EXPECT_TRUE(IsStale("udmg:v70:AAAA", kPlain, filter));
  EXPECT_TRUE(IsStale("udmg:v6:AAAA", kPlain, filter));
  EXPECT_TRUE(IsStale("udmg:garbage", kPlain, filter));
  EXPECT_TRUE(IsStale("UDMG:V7:AAAA", kPlain, db::StaleFilter{7, true}));  // case-sensitive: plaintext
  EXPECT_FALSE(IsStale("plain", kPlain, filter));
  EXPECT_TRUE(IsStale("plain", kPlain, db::StaleFilter{7, true}));
  EXPECT_TRUE(IsStale("", kPlain, db::StaleFilter{7, true}));
}

TEST_F(FlowBatchTest, ReencryptsEveryStaleRowAndKeepsTheOldValueAsExpected) {
  Batch batch;
  std::string old1 = UnderV1("one");
  std::string old2 = UnderV1("");
  batch.rows = {{int64_t{1}, old1}, {std::string("k2"), old2}};
  ValueCipher cipher(v2_);
  ASSERT_TRUE(TransformBatch(cipher, kPlain, db::StaleFilter{2, false}, batch).ok());
  EXPECT_TRUE(batch.rows.empty());
  EXPECT_TRUE(batch.failures.empty());
  ASSERT_EQ(batch.writes.size(), 2u);
  EXPECT_EQ(batch.writes[0].key, db::RowKey(int64_t{1}));
  EXPECT_EQ(batch.writes[0].expected, old1);
  EXPECT_TRUE(batch.writes[0].replacement.starts_with("udmg:v2:"));
  auto one = cipher.Decrypt(batch.writes[0].replacement);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(AsText(*one), "one");
  EXPECT_EQ(batch.writes[1].key, db::RowKey(std::string("k2")));
  auto empty = cipher.Decrypt(batch.writes[1].replacement);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(cipher.encryptions().at(2), 2u);
}

TEST_F(FlowBatchTest, FailuresAreClassifiedAndNotWritten) {
  std::string good = UnderV1("secret");
  std::string tag_flipped = good;  // a base64 digit in the tag changed to another one
  char& digit = tag_flipped[tag_flipped.size() - 6];
  digit = digit == 'A' ? 'B' : 'A';
  Batch batch;
  batch.rows = {{int64_t{1}, "udmg:v1:***"},
                {int64_t{2}, tag_flipped},
                {int64_t{3}, "udmg:v5:" + good.substr(8)},
                {int64_t{4}, "udmg:vx:AAAA"},
                {int64_t{5}, good}};
  ValueCipher cipher(v2_);
  ASSERT_TRUE(TransformBatch(cipher, kPlain, db::StaleFilter{2, false}, batch).ok());
  ASSERT_EQ(batch.writes.size(), 1u);
  EXPECT_EQ(batch.writes[0].key, db::RowKey(int64_t{5}));
  ASSERT_EQ(batch.failures.size(), 4u);
  EXPECT_EQ(batch.failures[0].error_class, "malformed");
  EXPECT_EQ(batch.failures[0].version, 1u);
  EXPECT_EQ(batch.failures[1].error_class, "decryption_failed");
  EXPECT_EQ(batch.failures[2].error_class, "unknown_version");
  EXPECT_EQ(batch.failures[2].version, 5u);
  EXPECT_EQ(batch.failures[3].error_class, "malformed");
  EXPECT_EQ(batch.failures[3].version, 0u);
}

TEST_F(FlowBatchTest, NullsCurrentValuesAndPlaintextWithoutRequestAreLeftAlone) {
  ValueCipher current(v2_);
  Batch batch;
  batch.rows = {{int64_t{1}, std::nullopt},
                {int64_t{2}, *current.Encrypt(std::string_view("fresh"))},
                {int64_t{3}, "legacy"}};
  ASSERT_TRUE(TransformBatch(current, kPlain, db::StaleFilter{2, false}, batch).ok());
  EXPECT_TRUE(batch.writes.empty());
  EXPECT_TRUE(batch.failures.empty());

  Batch with_plaintext;
  with_plaintext.rows = {{int64_t{3}, "legacy"}};
  ASSERT_TRUE(TransformBatch(current, kPlain, db::StaleFilter{2, true}, with_plaintext).ok());
  ASSERT_EQ(with_plaintext.writes.size(), 1u);
  EXPECT_EQ(with_plaintext.writes[0].expected, "legacy");
  auto plaintext = current.Decrypt(with_plaintext.writes[0].replacement);
  ASSERT_TRUE(plaintext.ok());
  EXPECT_EQ(AsText(*plaintext), "legacy");
}

TEST_F(FlowBatchTest, ABoundColumnsCurrentFormIsTheBoundOne) {
  db::StaleFilter filter{7, false};
  EXPECT_TRUE(IsStale("udmg:v7:AAAA", kBound, filter));
  EXPECT_FALSE(IsStale("udmg:b7:AAAA", kBound, filter));
  EXPECT_TRUE(IsStale("udmg:b6:AAAA", kBound, filter));
  EXPECT_TRUE(IsStale("udmg:b7:AAAA", kPlain, filter));  // after `columns unbind`
}

// Binding a column makes its current unbound values stale: the crypto stage rewrites them in the
// bound form of their own row, and a bound value moved to another row fails as tampering would.
TEST_F(FlowBatchTest, ABoundColumnIsRewrittenInTheBoundFormOfEachRow) {
  ValueCipher current(v2_);
  const std::string unbound = *current.Encrypt(std::string_view("mine"));
  const std::string old = UnderV1("older");
  Batch batch;
  batch.rows = {{int64_t{1}, unbound}, {int64_t{2}, old}};
  ASSERT_TRUE(TransformBatch(current, kBound, db::StaleFilter{2, false}, batch).ok());
  ASSERT_TRUE(batch.failures.empty());
  ASSERT_EQ(batch.writes.size(), 2u);
  for (const db::CasWrite& write : batch.writes) {
    EXPECT_TRUE(write.replacement.starts_with("udmg:b2:")) << write.replacement;
  }
  const ValueLocation row1{"credentials", "secret", "1", 3};
  const ValueLocation row2{"credentials", "secret", "2", 3};
  EXPECT_EQ(AsText(*current.Decrypt(batch.writes[0].replacement, &row1)), "mine");
  EXPECT_EQ(AsText(*current.Decrypt(batch.writes[1].replacement, &row2)), "older");
  EXPECT_FALSE(current.Decrypt(batch.writes[0].replacement, &row2).ok());

  // Row 1's bound value copied into row 5 (stale there only once the target moves on).
  Batch moved;
  moved.rows = {{int64_t{5}, batch.writes[0].replacement}};
  ASSERT_TRUE(TransformBatch(current, kBound, db::StaleFilter{3, false}, moved).ok());
  EXPECT_TRUE(moved.writes.empty());
  ASSERT_EQ(moved.failures.size(), 1u);
  EXPECT_EQ(moved.failures[0].error_class, "decryption_failed");
  EXPECT_EQ(moved.failures[0].version, 2u);
}

// The downgrade rule on the batch path: an unbound envelope under a version at or after the
// binding is refused with its own class, never rewritten into the bound form.
TEST_F(FlowBatchTest, AnUnboundValueFromTheBindingVersionOnIsAFailureNotAMigration) {
  ValueCipher current(v2_);
  const db::ColumnRef bound_from_2{"credentials", "secret", "id", 2};
  Batch batch;
  batch.rows = {{int64_t{1}, *current.Encrypt(std::string_view("copied?"))},
                {int64_t{2}, UnderV1("from before binding")}};
  ASSERT_TRUE(TransformBatch(current, bound_from_2, db::StaleFilter{2, false}, batch).ok());
  ASSERT_EQ(batch.failures.size(), 1u);
  EXPECT_EQ(batch.failures[0].key, db::RowKey(int64_t{1}));
  EXPECT_EQ(batch.failures[0].error_class, "unbound_value");
  ASSERT_EQ(batch.writes.size(), 1u);
  EXPECT_EQ(batch.writes[0].key, db::RowKey(int64_t{2}));
  EXPECT_TRUE(batch.writes[0].replacement.starts_with("udmg:b2:"));
}

}  // namespace
}  // namespace udmg::pipeline
