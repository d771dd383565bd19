#include "engine/cryptoperiod.h"

#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace udmg {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kCreated = 1'700'000'000;

// A keyring whose root version 1 and master version 2 (active) were created at kCreated; only
// the versions and times matter here.
KeyringRecords Keyring() {
  KeyringRecords records;
  records.roots.push_back({1, "fp", std::nullopt, std::nullopt, kCreated});
  records.masters.push_back({1, "k3", 1, MasterKeyState::kDecryptOnly, kCreated - 50 * kDay});
  records.masters.push_back({2, "k3", 1, MasterKeyState::kActive, kCreated});
  return records;
}

TEST(CryptoperiodTest, MasterKeyIsDueAtItsMaximumAgeNotBefore) {
  KeyPolicy policy;
  policy.master_max_age = 90 * kDay;
  std::optional<KeyDue> before = MasterKeyDue(policy, Keyring(), {}, kCreated + 90 * kDay - 1);
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->due);
  EXPECT_EQ(before->version, 2u);
  EXPECT_EQ(before->why,
            "master key version 2 is 89 days old (maximum 90d) and has made 0 encryptions: "
            "within the policy");
  std::optional<KeyDue> at = MasterKeyDue(policy, Keyring(), {}, kCreated + 90 * kDay);
  EXPECT_TRUE(at->due);
  EXPECT_EQ(at->why,
            "master key version 2 is 90 days old, past its maximum age of 90d and has made 0 "
            "encryptions");
}

TEST(CryptoperiodTest, MasterKeyIsDueAtItsMaximumEncryptionsOfTheActiveVersionOnly) {
  KeyPolicy policy;
  policy.master_max_encryptions = 1000;
  // Version 1's count is not the active version's.
  EXPECT_FALSE(MasterKeyDue(policy, Keyring(), {{1, 5000}, {2, 999}}, kCreated)->due);
  std::optional<KeyDue> due = MasterKeyDue(policy, Keyring(), {{1, 5000}, {2, 1000}}, kCreated);
  EXPECT_TRUE(due->due);
  EXPECT_EQ(due->encryptions, 1000u);
  EXPECT_EQ(due->why,
            "master key version 2 is 0 seconds old and has made 1000 encryptions, at or past its "
            "maximum of 1000");
}

TEST(CryptoperiodTest, WithoutALimitNothingIsDueAndTheWhySaysSo) {
  std::optional<KeyDue> master = MasterKeyDue({}, Keyring(), {{2, 7}}, kCreated + 3 * 3600 + 5);
  EXPECT_FALSE(master->due);
  EXPECT_EQ(master->why,
            "master key version 2 is 3 hours old and has made 7 encryptions: no limit is set "
            "for it (`udmg-server policy set`)");
  KeyPolicy masters_only;
  masters_only.master_max_age = kDay;
  std::optional<KeyDue> root = RootKeyDue(masters_only, Keyring(), kCreated + 400 * kDay);
  EXPECT_FALSE(root->due);
  EXPECT_EQ(
      root->why,
      "root key version 1 is 400 days old: no limit is set for it (`udmg-server policy set`)");
}

TEST(CryptoperiodTest, RootKeyIsDueByAgeAndAClockBehindTheKeyCountsAsNew) {
  KeyPolicy policy;
  policy.root_max_age = 365 * kDay;
  EXPECT_TRUE(RootKeyDue(policy, Keyring(), kCreated + 365 * kDay)->due);
  std::optional<KeyDue> skewed = RootKeyDue(policy, Keyring(), kCreated - 100);
  EXPECT_FALSE(skewed->due);
  EXPECT_EQ(skewed->age, 0);
}

TEST(CryptoperiodTest, AnEmptyKeyringHasNoKeyToAssess) {
  EXPECT_FALSE(MasterKeyDue({}, KeyringRecords{}, {}, kCreated).has_value());
  EXPECT_FALSE(RootKeyDue({}, KeyringRecords{}, kCreated).has_value());
}

TEST(CryptoperiodTest, PolicyRoundTripsThroughItsRows) {
  KeyPolicy policy;
  policy.master_max_age = 90 * kDay;
  policy.master_max_encryptions = uint64_t{1} << 32;
  policy.root_max_age = 365 * kDay;
  PolicyRows rows = PolicyToRows(policy);
  EXPECT_EQ(rows.size(), 3u);
  Result<KeyPolicy> back = PolicyFromRows(rows);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, policy);
  EXPECT_TRUE(PolicyToRows(KeyPolicy{}).empty());
}

TEST(CryptoperiodTest, StoredRowsThatAreNotAValidPolicyAreCorrupt) {
  for (const PolicyRows& rows :
       {PolicyRows{{"master_max_age_days", 5}}, PolicyRows{{"master_max_encryptions", 0}},
        PolicyRows{{"master_max_encryptions", -4}}, PolicyRows{{"root_max_age_seconds", 0}}}) {
    Result<KeyPolicy> policy = PolicyFromRows(rows);
    ASSERT_FALSE(policy.ok()) << rows.begin()->first;
    EXPECT_EQ(policy.error().code, ErrorCode::kCorruptValue);
  }
}

TEST(CryptoperiodTest, LimitsOutOfRangeAreBadInput) {
  KeyPolicy too_many;
  too_many.master_max_encryptions = (uint64_t{1} << 32) + 1;
  EXPECT_EQ(ValidatePolicy(too_many).error().code, ErrorCode::kBadInput);
  KeyPolicy too_old;
  too_old.root_max_age = 3651 * kDay;
  EXPECT_EQ(ValidatePolicy(too_old).error().code, ErrorCode::kBadInput);
  KeyPolicy zero;
  zero.master_max_age = 0;
  EXPECT_EQ(ValidatePolicy(zero).error().code, ErrorCode::kBadInput);
  EXPECT_TRUE(ValidatePolicy(KeyPolicy{}).ok());
}

TEST(CryptoperiodTest, PolicyTextNamesEveryLimitOrItsAbsence) {
  KeyPolicy policy;
  EXPECT_EQ(PolicyText(policy),
            "master key: maximum age no limit, maximum encryptions no limit; root key: maximum "
            "age no limit");
  policy.master_max_age = 90 * kDay;
  policy.master_max_encryptions = 1000;
  policy.root_max_age = kDay + 3600;
  EXPECT_EQ(PolicyText(policy),
            "master key: maximum age 90d, maximum encryptions 1000; root key: maximum age 1d1h");
}

TEST(CryptoperiodTest, DurationTextIsTheFormPolicySetReadsBack) {
  EXPECT_EQ(PolicyDurationText(90 * kDay), "90d");
  EXPECT_EQ(PolicyDurationText(kDay + 12 * 3600), "1d12h");
  EXPECT_EQ(PolicyDurationText(45 * 60), "45m");
  EXPECT_EQ(PolicyDurationText(3661), "1h1m1s");
}

}  // namespace
}  // namespace udmg
