#include "engine/audit_chain.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/encoding.h"

namespace udmg {
namespace {

// The worked example of docs/formats.md ("Audit chain"), computed there with Python's hmac and
// hashlib: an independent implementation of the construction.
constexpr char kK0Hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kAuditKeyHex[] = "ae5dddcba26dfadbb377b79dc6286c16278837370adbd93b886e754df1572438";
constexpr char kFirstMacHex[] = "6b839e1e72e864f8ad924b7f874db26e81daa5d4ad76e812d5547f02c2948c13";
constexpr char kSecondMacHex[] = "b7e31d0991e1290af5e1aeee85f848ac622fd612ae62f333937ad7fe5973290c";
constexpr char kThirdMacHex[] = "5b530ed869052f5a5b2e57a7062203b86b1770083bf8a320165dcd34609f62f8";

SecretBytes Hex(std::string_view hex) { return *HexDecode(hex); }

AuditEntry FirstEntry() {
  AuditEntry entry;
  entry.seq = 1;
  entry.at = 1767225600;
  entry.node = "node-a";
  entry.os_user = "ops";
  entry.pid = 4242;
  entry.command = "rotate-master-key";
  entry.event = "keyring";
  entry.outcome = "ok";
  entry.root_before = 1;
  entry.root_after = 1;
  entry.master_before = 1;
  entry.master_after = 2;
  entry.k0_fingerprint = "f3f687ad5310b02b399ca90ec79460d6";
  entry.key_version = 1;
  return entry;
}

AuditEntry SecondEntry() {
  AuditEntry entry = FirstEntry();
  entry.seq = 2;
  entry.at = 1767225660;
  entry.pid = 4243;
  entry.command = "status";
  entry.event = "root-key";
  entry.outcome = "refused: K0 matches no root key version";
  entry.master_before = 2;
  entry.k0_fingerprint = "";
  entry.key_version = 0;
  return entry;
}

// A retirement with a detail, sealed by version 1.
AuditEntry ThirdEntry() {
  AuditEntry entry = FirstEntry();
  entry.seq = 3;
  entry.at = 1767225720;
  entry.pid = 4244;
  entry.command = "retire-key";
  entry.event = "retire";
  entry.master_before = 2;
  entry.detail = "retired master version 1";
  return entry;
}

TEST(AuditChainTest, MatchesTheWorkedExample) {
  const SecretBytes key = DeriveAuditKey(Hex(kK0Hex));
  EXPECT_EQ(HexEncode(key), kAuditKeyHex);
  const AuditMac first = SealAuditEntry(FirstEntry(), AuditMac{}, key);
  EXPECT_EQ(HexEncode(first), kFirstMacHex);
  const AuditMac second = SealAuditEntry(SecondEntry(), first, {});
  EXPECT_EQ(HexEncode(second), kSecondMacHex);
  EXPECT_EQ(HexEncode(SealAuditEntry(ThirdEntry(), second, key)), kThirdMacHex);
}

TEST(AuditChainTest, TheDetailIsCoveredOnlyWhenThereIsOne) {
  const SecretBytes key = DeriveAuditKey(Hex(kK0Hex));
  AuditEntry stripped = ThirdEntry();
  stripped.detail.clear();
  EXPECT_NE(SealAuditEntry(stripped, AuditMac{}, key),
            SealAuditEntry(ThirdEntry(), AuditMac{}, key));
  // An entry without a detail is sealed as before the field existed (the first entry above).
  EXPECT_EQ(AuditMessage(FirstEntry(), AuditMac{}).find("retired"), std::string::npos);
}

TEST(AuditChainTest, RetiredVersionsAreReadBackFromTheirDetail) {
  AuditEntry entry;
  const std::vector<uint32_t> one = {1}, two = {1, 12};
  entry.detail = RetiredVersionsDetail(one);
  EXPECT_EQ(entry.detail, "retired master version 1");
  EXPECT_EQ(RetiredVersionsOf(entry), one);
  entry.detail = RetiredVersionsDetail(two);
  EXPECT_EQ(entry.detail, "retired master versions 1, 12");
  EXPECT_EQ(RetiredVersionsOf(entry), two);
  for (const char* other :
       {"", "credentials.secret", "retired master versions 1,", "retired master version x"}) {
    entry.detail = other;
    EXPECT_TRUE(RetiredVersionsOf(entry).empty()) << other;
  }
}

// Keys per root version, as a keyring that holds versions 1 and 2 derives them.
class AuditChainVerifyTest : public ::testing::Test {
 protected:
  AuditChainVerifyTest() {
    keys_[1] = DeriveAuditKey(Hex(kK0Hex));
    keys_[2] =
        DeriveAuditKey(Hex("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"));
    lookup_ = [this](uint32_t version) -> std::optional<SecretBytes> {
      auto found = keys_.find(version);
      if (found == keys_.end()) return std::nullopt;
      return found->second;
    };
  }

  // Appends `entry` as a store does: the next seq, sealed over the last MAC.
  void Append(AuditEntry entry) {
    entry.seq = static_cast<int64_t>(chain_.size()) + 1;
    const AuditMac previous = chain_.empty() ? AuditMac{} : chain_.back().mac;
    SecretBytes key = entry.key_version ? keys_.at(entry.key_version) : SecretBytes{};
    entry.mac = SealAuditEntry(entry, previous, key);
    chain_.push_back(std::move(entry));
  }

  // Five entries: a rotation, a refusal, a K0 rotation (still sealed by version 1, the K0 that
  // made it), a change sealed by version 2, and a refusal nothing covers yet.
  void AppendFive() {
    Append(FirstEntry());
    Append(SecondEntry());
    AuditEntry k0_rotation = FirstEntry();
    k0_rotation.command = "rotate-k0";
    k0_rotation.root_after = 2;
    Append(k0_rotation);
    AuditEntry after = FirstEntry();
    after.root_before = after.root_after = 2;
    after.master_before = 2;
    after.master_after = 3;
    after.key_version = 2;
    Append(after);
    Append(SecondEntry());
  }

  AuditVerdict Verify() const { return VerifyAuditChain(chain_, lookup_, {2, std::nullopt}); }

  std::map<uint32_t, SecretBytes> keys_;
  AuditKeyLookup lookup_;
  std::vector<AuditEntry> chain_;
};

TEST_F(AuditChainVerifyTest, AnIntactChainVerifiesAcrossARootKeyRotation) {
  AppendFive();
  AuditVerdict verdict = Verify();
  EXPECT_FALSE(verdict.first_break.has_value()) << verdict.why;
  EXPECT_EQ(verdict.checked, 5u);
  EXPECT_EQ(verdict.unsealed, 1u);  // the last refusal
  EXPECT_EQ(verdict.head, (AuditHead{5, chain_.back().mac}));
  EXPECT_EQ(ParseAuditHead(AuditHeadText(verdict.head)), verdict.head);
  EXPECT_FALSE(VerifyAuditChain({}, lookup_).first_break.has_value());
}

// Every field is covered: changing any one breaks that entry.
TEST_F(AuditChainVerifyTest, EditingAnyFieldBreaksThatEntry) {
  const std::vector<std::pair<std::string, std::function<void(AuditEntry&)>>> edits = {
      {"at", [](AuditEntry& e) { e.at += 1; }},
      {"node", [](AuditEntry& e) { e.node = "node-b"; }},
      {"os_user", [](AuditEntry& e) { e.os_user = "root"; }},
      {"pid", [](AuditEntry& e) { e.pid += 1; }},
      {"command", [](AuditEntry& e) { e.command = "status"; }},
      {"event", [](AuditEntry& e) { e.event = "job-start"; }},
      {"outcome", [](AuditEntry& e) { e.outcome = "refused: nothing"; }},
      {"root_before", [](AuditEntry& e) { e.root_before += 1; }},
      {"root_after", [](AuditEntry& e) { e.root_after += 1; }},
      {"master_before", [](AuditEntry& e) { e.master_before += 1; }},
      {"master_after", [](AuditEntry& e) { e.master_after += 1; }},
      {"k0_fingerprint", [](AuditEntry& e) { e.k0_fingerprint = "00"; }},
      {"key_version", [](AuditEntry& e) { e.key_version = e.key_version == 1 ? 2 : 1; }},
      {"mac", [](AuditEntry& e) { e.mac[0] ^= 1; }},
  };
  AppendFive();
  for (const auto& [field, edit] : edits) {
    for (size_t index : {size_t{0}, size_t{3}}) {
      std::vector<AuditEntry> original = chain_;
      edit(chain_[index]);
      AuditVerdict verdict = Verify();
      ASSERT_TRUE(verdict.first_break.has_value()) << field << " of entry " << index + 1;
      EXPECT_EQ(*verdict.first_break, static_cast<int64_t>(index) + 1)
          << field << ": " << verdict.why;
      chain_ = original;
    }
  }
}

TEST_F(AuditChainVerifyTest, RemovingReorderingOrInsertingEntriesBreaksTheChain) {
  AppendFive();
  const std::vector<AuditEntry> original = chain_;
  chain_.erase(chain_.begin() + 2);
  EXPECT_EQ(Verify().first_break, 4);
  EXPECT_NE(Verify().why.find("removed, reordered or inserted"), std::string::npos);

  chain_ = original;
  chain_.erase(chain_.begin());  // the first entry: the chain must start at seq 1
  EXPECT_EQ(Verify().first_break, 2);

  chain_ = original;
  std::swap(chain_[1], chain_[2]);
  EXPECT_EQ(Verify().first_break, 3);

  // Renumbered after a removal: the seqs are consecutive again, the MACs are not.
  chain_ = original;
  chain_.erase(chain_.begin() + 1);
  for (size_t i = 0; i < chain_.size(); ++i) chain_[i].seq = static_cast<int64_t>(i) + 1;
  EXPECT_EQ(Verify().first_break, 2);
}

// Without K0, an attacker can recompute an unkeyed MAC, but only for a refusal, and the next
// keyed entry covers it.
TEST_F(AuditChainVerifyTest, AnEntryWithoutItsKeyIsABreakUnlessItIsARefusalNotYetCovered) {
  AppendFive();
  const std::vector<AuditEntry> original = chain_;
  auto forge_unkeyed = [&](size_t index, std::string outcome) {
    AuditEntry& entry = chain_[index];
    entry.outcome = std::move(outcome);
    entry.key_version = 0;
    entry.mac = SealAuditEntry(entry, index ? chain_[index - 1].mac : AuditMac{}, {});
  };
  forge_unkeyed(0, "ok");
  EXPECT_EQ(Verify().first_break, 1);
  EXPECT_NE(Verify().why.find("records a change"), std::string::npos);
  forge_unkeyed(0, "failed");
  EXPECT_EQ(Verify().first_break, 1);

  chain_ = original;
  forge_unkeyed(1, "refused: forged");  // covered by entry 3
  EXPECT_EQ(Verify().first_break, 3);
  chain_ = original;
  forge_unkeyed(1, "unsealed: forged");  // the same for a job change made without K0
  EXPECT_EQ(Verify().first_break, 3);

  chain_ = original;
  forge_unkeyed(4, "refused: forged");  // the tail: reported as unsealed, not trusted
  AuditVerdict tail = Verify();
  EXPECT_FALSE(tail.first_break.has_value());
  EXPECT_EQ(tail.unsealed, 1u);
  EXPECT_NE(tail.head.mac, original.back().mac);
}

TEST_F(AuditChainVerifyTest, AnEntrySealedByARootVersionTheKeyringLacksIsABreak) {
  AppendFive();
  keys_.erase(2);
  AuditVerdict verdict = Verify();
  EXPECT_EQ(verdict.first_break, 4);
  EXPECT_NE(verdict.why.find("root key version 2, which this keyring does not hold"),
            std::string::npos);
}

// Someone who kept the K0 that rotate-k0 retired (version 1) and can write the database still
// cannot add entries: not as if version 1 were current, nor by claiming a return to it.
TEST_F(AuditChainVerifyTest, ARetiredRootKeyCannotSealNewEntries) {
  AppendFive();
  AuditEntry forged = FirstEntry();
  forged.root_before = forged.root_after = 2;
  Append(forged);
  EXPECT_EQ(Verify().first_break, 6);
  EXPECT_NE(Verify().why.find("sealed by root key version 1, which was not current when it was "
                              "appended"),
            std::string::npos);

  chain_.pop_back();
  forged.root_after = 1;  // "back to version 1": the keyring's current root is still 2
  Append(forged);
  AuditVerdict verdict = Verify();
  EXPECT_EQ(verdict.first_break, 6);
  EXPECT_NE(verdict.why.find("leaves root key version 1 current, but the keyring's current root "
                             "key is version 2"),
            std::string::npos);
  EXPECT_EQ(verdict.checked, 5u);

  chain_.pop_back();
  forged.root_before = 1;  // as if the rotation to version 2 had not happened
  Append(forged);
  EXPECT_EQ(Verify().first_break, 6);
  EXPECT_NE(Verify().why.find("says root key version 1 was current, but the entry before it left "
                              "version 2 current"),
            std::string::npos);
}

// Removing entries from the end leaves a valid chain: only a head kept elsewhere shows it. A head
// that later entries followed is still held.
TEST_F(AuditChainVerifyTest, TruncationShowsAgainstAnExpectedHead) {
  AppendFive();
  const AuditHead fourth{4, chain_[3].mac};
  EXPECT_FALSE(VerifyAuditChain(chain_, lookup_, {0, fourth}).expected_head_missing);
  chain_.resize(3);
  AuditVerdict verdict = VerifyAuditChain(chain_, lookup_, {0, fourth});
  EXPECT_FALSE(verdict.first_break.has_value());
  EXPECT_EQ(verdict.head.seq, 3);
  EXPECT_TRUE(verdict.expected_head_missing);
  EXPECT_TRUE(
      VerifyAuditChain(chain_, lookup_, {0, AuditHead{3, fourth.mac}}).expected_head_missing);
}

TEST(AuditHeadTest, ParsesOnlyWellFormedHeads) {
  const std::string mac(64, 'a');
  EXPECT_EQ(ParseAuditHead("12:" + mac)->seq, 12);
  for (const std::string& bad :
       {std::string(":") + mac, "x1:" + mac, "1:" + mac.substr(1), "1:" + mac + "a", "1" + mac,
        "1:" + std::string(63, 'a') + "g", "1234567890123456789:" + mac}) {
    EXPECT_FALSE(ParseAuditHead(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace udmg
