#include "engine/backup.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/aead.h"
#include "engine/encoding.h"
#include "engine/fernet.h"
#include "engine/keyring.h"
#include "engine/root_key.h"
#include "engine_test_util.h"
#include "tests/support/temp_dir.h"

namespace udmg {
namespace {

using testing::Bytes;

constexpr int64_t kNow = 1700000000;
constexpr ScryptCost kFastCost{10, 8, 1};  // 1 MiB, a few ms: the tests' cost
constexpr std::string_view kPassphrase = "correct horse battery staple";
constexpr std::string_view kBadPassphraseMessage =
    "the backup does not open with this passphrase (or the file was altered)";

// A keyring as a database holds it after some life: root rotated once (v1 → v2), master rotated
// twice (v3 active, v2 decrypt_only) and v1 retired, as prune-keys leaves it.
struct RealisticKeyring {
  SecretBytes k0_v1 = RandomSecret(32), k0_v2 = RandomSecret(32);
  SecretBytes k1_v1 = RandomSecret(32), k1_v2 = RandomSecret(32), k1_v3 = RandomSecret(32);
  BackupContents contents;

  RealisticKeyring() {
    KeyringRecords records = NewKeyringRecords(k0_v1, k1_v1, kNow);
    records = Must(RotateMasterKey(records, k0_v1, k1_v2, kNow + 10));
    records = Must(RotateMasterKey(records, k0_v1, k1_v3, kNow + 20));
    records = Must(RotateRootKey(records, k0_v1, k0_v2, kNow + 30));
    records.masters[0].state = MasterKeyState::kRetired;
    records.revision = 7;
    contents.keyring_id = "0123456789abcdef0123456789abcdef";
    contents.keyring_revision = 7;
    contents.created_at = kNow + 40;
    contents.tool_version = "0.6.0-test";
    contents.root_version = 2;
    contents.root_fingerprint = RootKeyFingerprint(k0_v2);
    contents.root_key = k0_v2;
    contents.records = records;
  }

  static KeyringRecords Must(Result<KeyringRecords> result) {
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? *result : KeyringRecords{};
  }
};

std::vector<uint8_t> SealOrFail(const BackupContents& contents,
                                std::string_view passphrase = kPassphrase,
                                const ScryptCost& cost = kFastCost) {
  Result<std::vector<uint8_t>> sealed = SealBackup(contents, AsBytes(passphrase), cost);
  EXPECT_TRUE(sealed.ok()) << sealed.error().message;
  return sealed.ok() ? *sealed : std::vector<uint8_t>{};
}

// The failure's code, or 0 when the file opened (then contents were returned: always a failure
// in the tests that call this).
int OpenCode(std::span<const uint8_t> file, std::string_view passphrase = kPassphrase) {
  Result<BackupContents> opened = OpenBackup(file, AsBytes(passphrase));
  return opened.ok() ? 0 : static_cast<int>(opened.error().code);
}

int Code(ErrorCode code) { return static_cast<int>(code); }

// ---- An independent sealer (OpenSSL's EVP_PBE_scrypt + raw header bytes) for hand-made files ----

void PutU32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<uint8_t>(value >> shift));
}

std::vector<uint8_t> SealPlaintext(std::string_view plaintext, ScryptCost cost = kFastCost) {
  std::vector<uint8_t> salt = testing::Pattern(16, 7), nonce = testing::Pattern(12, 9);
  std::vector<uint8_t> file(kBackupMagic.begin(), kBackupMagic.end());
  for (uint8_t byte : {uint8_t{1}, uint8_t{1}, cost.log2_n}) file.push_back(byte);  // format, kdf
  PutU32(file, cost.r);
  PutU32(file, cost.p);
  file.insert(file.end(), salt.begin(), salt.end());
  file.insert(file.end(), nonce.begin(), nonce.end());
  PutU32(file, static_cast<uint32_t>(plaintext.size() + kGcmTagSize));
  EXPECT_EQ(file.size(), kBackupHeaderSize);
  SecretBytes key(32);
  EXPECT_EQ(EVP_PBE_scrypt(kPassphrase.data(), kPassphrase.size(), salt.data(), salt.size(),
                           uint64_t{1} << cost.log2_n, cost.r, cost.p, 0, key.data(), key.size()),
            1);
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(key);
  EXPECT_TRUE(aead.ok());
  const std::vector<uint8_t> header = file;
  EXPECT_TRUE((*aead)
                  ->Seal(std::span<const uint8_t, kGcmNonceSize>(nonce.data(), kGcmNonceSize),
                         header, AsBytes(plaintext), file)
                  .ok());
  return file;
}

// The plaintext JSON of a sealed file, read back with the same passphrase (test-side).
nlohmann::json PlaintextOf(const std::vector<uint8_t>& file) {
  const ScryptCost cost{file[10], 8, 1};
  SecretBytes key(32);
  EXPECT_EQ(EVP_PBE_scrypt(kPassphrase.data(), kPassphrase.size(), &file[19], 16,
                           uint64_t{1} << cost.log2_n, cost.r, cost.p, 0, key.data(), key.size()),
            1);
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(key);
  EXPECT_TRUE(aead.ok());
  const std::span<const uint8_t> bytes(file);
  Result<SecretBytes> plaintext =
      (*aead)->Open(std::span<const uint8_t, kGcmNonceSize>(&file[35], kGcmNonceSize),
                    bytes.first(kBackupHeaderSize), bytes.subspan(kBackupHeaderSize));
  EXPECT_TRUE(plaintext.ok());
  if (!plaintext.ok()) return nullptr;
  return nlohmann::json::parse(plaintext->begin(), plaintext->end());
}

// ---- Round trip ------------------------------------------------------------------------------

TEST(BackupTest, RoundTripOfARealisticKeyring) {
  const RealisticKeyring keyring;
  const std::vector<uint8_t> file = SealOrFail(keyring.contents);
  ASSERT_GT(file.size(), kBackupHeaderSize + kGcmTagSize);
  EXPECT_EQ(AsText(std::span(file).first(8)), kBackupMagic);

  Result<BackupContents> opened = OpenBackup(file, AsBytes(kPassphrase));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->keyring_id, keyring.contents.keyring_id);
  EXPECT_EQ(opened->keyring_revision, 7);
  EXPECT_EQ(opened->created_at, kNow + 40);
  EXPECT_EQ(opened->tool_version, "0.6.0-test");
  EXPECT_EQ(opened->root_version, 2u);
  EXPECT_EQ(opened->root_fingerprint, RootKeyFingerprint(keyring.k0_v2));
  EXPECT_TRUE(SafeEquals(opened->root_key, keyring.k0_v2));
  EXPECT_EQ(opened->records, keyring.contents.records);  // every row, field by field

  // What was backed up is a working keyring under the backed-up K0.
  Result<std::shared_ptr<const Keyring>> restored =
      Keyring::Open(opened->records, opened->root_key);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ((*restored)->active_version(), 3u);
  ASSERT_NE((*restored)->MasterKey(2), nullptr);
  EXPECT_TRUE(SafeEquals(*(*restored)->MasterKey(2), keyring.k1_v2));
  EXPECT_TRUE(SafeEquals(*(*restored)->MasterKey(3), keyring.k1_v3));
}

TEST(BackupTest, PlaintextHasTheDocumentedFields) {
  const RealisticKeyring keyring;
  const nlohmann::json json = PlaintextOf(SealOrFail(keyring.contents));
  ASSERT_TRUE(json.is_object());
  std::vector<std::string> fields;
  for (const auto& [name, value] : json.items()) fields.push_back(name);
  EXPECT_EQ(fields, (std::vector<std::string>{
                        "created_at", "format", "keyring_id", "keyring_revision", "masters",
                        "root_fingerprint", "root_key", "root_version", "roots", "tool_version"}));
  EXPECT_EQ(json["format"], 1);
  EXPECT_EQ(json["root_key"], HexEncode(keyring.k0_v2));
  ASSERT_EQ(json["roots"].size(), 2u);
  EXPECT_EQ(json["roots"][0],
            (nlohmann::json{{"version", 1},
                            {"fingerprint", RootKeyFingerprint(keyring.k0_v1)},
                            {"wrapped_key", *keyring.contents.records.roots[0].wrapped_key},
                            {"wrapped_by", 2},
                            {"created_at", kNow}}));
  EXPECT_TRUE(json["roots"][1]["wrapped_key"].is_null());
  EXPECT_TRUE(json["roots"][1]["wrapped_by"].is_null());
  ASSERT_EQ(json["masters"].size(), 3u);
  EXPECT_EQ(json["masters"][0]["state"], "retired");
  EXPECT_EQ(json["masters"][1]["state"], "decrypt_only");
  EXPECT_EQ(json["masters"][2], (nlohmann::json{{"version", 3},
                                                {"k3", keyring.contents.records.masters[2].k3},
                                                {"root_version", 2},
                                                {"state", "active"},
                                                {"created_at", kNow + 20}}));
}

TEST(BackupTest, EverySealHasAFreshSaltAndNonce) {
  const RealisticKeyring keyring;
  const std::vector<uint8_t> a = SealOrFail(keyring.contents), b = SealOrFail(keyring.contents);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_FALSE(std::equal(a.begin() + 19, a.begin() + 35, b.begin() + 19));  // salt
  EXPECT_FALSE(std::equal(a.begin() + 35, a.begin() + 47, b.begin() + 35));  // nonce
}

TEST(BackupTest, FileHoldsNeitherTheRootKeyNorThePassphrase) {
  const RealisticKeyring keyring;
  const std::vector<uint8_t> file = SealOrFail(keyring.contents);
  auto contains = [&file](std::span<const uint8_t> needle) {
    return std::search(file.begin(), file.end(), needle.begin(), needle.end()) != file.end();
  };
  std::string hex = HexEncode(keyring.k0_v2);
  EXPECT_FALSE(contains(AsBytes(hex)));
  std::transform(hex.begin(), hex.end(), hex.begin(), ::toupper);
  EXPECT_FALSE(contains(AsBytes(hex)));
  EXPECT_FALSE(contains(keyring.k0_v2));
  EXPECT_FALSE(contains(std::span(keyring.k0_v2).first(8)));  // not even a part of it
  EXPECT_FALSE(contains(keyring.k1_v3));
  EXPECT_FALSE(contains(AsBytes(kPassphrase)));
  // The wrapped material, in the clear in the database, is not in the clear here either.
  EXPECT_FALSE(contains(AsBytes(keyring.contents.records.masters[2].k3)));
}

// ---- Passphrases -----------------------------------------------------------------------------

TEST(BackupTest, WrongPassphraseIsRefused) {
  const RealisticKeyring keyring;
  const std::vector<uint8_t> file = SealOrFail(keyring.contents);
  for (std::string_view wrong :
       {"correct horse battery stapl", "Correct horse battery staple", ""}) {
    Result<BackupContents> opened = OpenBackup(file, AsBytes(wrong));
    ASSERT_FALSE(opened.ok()) << wrong;
    EXPECT_EQ(opened.error().code, ErrorCode::kBadPassphrase);
    EXPECT_EQ(opened.error().message, kBadPassphraseMessage);
  }
}

TEST(BackupTest, ShortPassphrasesAreRefusedWhenSealing) {
  const RealisticKeyring keyring;
  for (std::string_view passphrase : {"", "x", "eleven char"}) {
    Result<std::vector<uint8_t>> sealed =
        SealBackup(keyring.contents, AsBytes(passphrase), kFastCost);
    ASSERT_FALSE(sealed.ok()) << passphrase;
    EXPECT_EQ(sealed.error().code, ErrorCode::kBadInput);
    EXPECT_NE(sealed.error().message.find("at least 12"), std::string::npos);
  }
  const std::vector<uint8_t> twelve = SealOrFail(keyring.contents, "twelve chars");
  EXPECT_EQ(OpenCode(twelve, "twelve chars"), 0);
}

// ---- Sealing refuses what could not be restored ----------------------------------------------

TEST(BackupTest, SealRefusesInconsistentContents) {
  const auto refused = [](const BackupContents& contents) {
    Result<std::vector<uint8_t>> sealed = SealBackup(contents, AsBytes(kPassphrase), kFastCost);
    return sealed.ok() ? 0 : Code(sealed.error().code);
  };
  const RealisticKeyring keyring;
  BackupContents short_key = keyring.contents;
  short_key.root_key.resize(31);
  EXPECT_EQ(refused(short_key), Code(ErrorCode::kBadInput));

  BackupContents other_key = keyring.contents;
  other_key.root_key = keyring.k0_v1;  // an older root: fingerprint differs from root_fingerprint
  EXPECT_EQ(refused(other_key), Code(ErrorCode::kBadInput));

  BackupContents no_root = keyring.contents;
  no_root.root_version = 3;
  EXPECT_EQ(refused(no_root), Code(ErrorCode::kBadInput));

  BackupContents bad_k3 = keyring.contents;
  Result<Fernet> stranger = Fernet::Create(RandomSecret(32));
  ASSERT_TRUE(stranger.ok());
  bad_k3.records.masters[1].k3 = stranger->Encrypt(keyring.k1_v2);
  EXPECT_EQ(refused(bad_k3), Code(ErrorCode::kCorruptValue));

  Result<std::vector<uint8_t>> too_costly =
      SealBackup(keyring.contents, AsBytes(kPassphrase), ScryptCost{23, 8, 1});
  ASSERT_FALSE(too_costly.ok());
  EXPECT_EQ(too_costly.error().code, ErrorCode::kBadInput);
}

// ---- Damaged files ---------------------------------------------------------------------------

bool CostInBounds(const ScryptCost& cost) {
  return cost.log2_n >= 10 && cost.log2_n <= 22 && cost.r >= 1 && cost.r <= 32 && cost.p >= 1 &&
         cost.p <= 16 && (uint64_t{1} << cost.log2_n) * cost.r * 128 <= (uint64_t{1} << 30);
}

// What the header check sees when byte `index` of `file` is damaged: kBadInput for the magic,
// format, kdf and length fields and for a cost out of bounds; else the tag fails.
ErrorCode ExpectedForDamage(const std::vector<uint8_t>& damaged, size_t index) {
  if (index < 10 || (index >= 47 && index < kBackupHeaderSize)) return ErrorCode::kBadInput;
  if (index < 19) {
    auto u32 = [&damaged](size_t at) {
      return uint32_t{damaged[at]} << 24 | uint32_t{damaged[at + 1]} << 16 |
             uint32_t{damaged[at + 2]} << 8 | damaged[at + 3];
    };
    const ScryptCost cost{damaged[10], u32(11), u32(15)};
    return CostInBounds(cost) ? ErrorCode::kBadPassphrase : ErrorCode::kBadInput;
  }
  return ErrorCode::kBadPassphrase;
}

// Keeps the file (and so the bit loop) small; the damage checks read the header, not the JSON.
BackupContents SmallContents() {
  const SecretBytes k0 = RandomSecret(32);
  BackupContents contents;
  contents.keyring_id = "0123456789abcdef0123456789abcdef";
  contents.root_version = 1;
  contents.root_fingerprint = RootKeyFingerprint(k0);
  contents.root_key = k0;
  contents.records = NewKeyringRecords(k0, RandomSecret(32), kNow);
  return contents;
}

TEST(BackupTest, EveryBitFlipIsRefused) {
  // r = 1 (128 KiB) keeps thousands of KDF runs within seconds; flips of r still reach r = 0, 3,
  // 5, 9, 17 and out-of-bounds values.
  const std::vector<uint8_t> file = SealOrFail(SmallContents(), kPassphrase, ScryptCost{10, 1, 1});
  ASSERT_FALSE(file.empty());
  size_t tag_failures = 0;
  for (size_t index = 0; index < file.size(); ++index) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> damaged = file;
      damaged[index] ^= static_cast<uint8_t>(1u << bit);
      const ErrorCode expected = ExpectedForDamage(damaged, index);
      Result<BackupContents> opened = OpenBackup(damaged, AsBytes(kPassphrase));
      ASSERT_FALSE(opened.ok()) << "byte " << index << " bit " << bit << " opened";
      ASSERT_EQ(opened.error().code, expected)
          << "byte " << index << " bit " << bit << ": " << opened.error().message;
      if (expected == ErrorCode::kBadPassphrase) {
        ++tag_failures;
        ASSERT_EQ(opened.error().message, kBadPassphraseMessage);
      }
    }
  }
  EXPECT_GT(tag_failures, (file.size() - kBackupHeaderSize) * 8);  // the body at least
}

TEST(BackupTest, EveryTruncationAndAppendedBytesAreRefused) {
  const std::vector<uint8_t> file = SealOrFail(SmallContents());
  ASSERT_FALSE(file.empty());
  for (size_t size = 0; size < file.size(); ++size) {
    Result<BackupContents> opened = OpenBackup(std::span(file).first(size), AsBytes(kPassphrase));
    ASSERT_FALSE(opened.ok()) << size;
    ASSERT_EQ(opened.error().code, ErrorCode::kBadInput) << size << ": " << opened.error().message;
  }
  Result<BackupContents> half = OpenBackup(std::span(file).first(200), AsBytes(kPassphrase));
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().message, "the backup file is truncated: 200 of " +
                                      std::to_string(file.size()) + " bytes; use a complete copy");
  for (const std::vector<uint8_t>& tail :
       {std::vector<uint8_t>{0}, Bytes("\n"), Bytes("garbage")}) {
    std::vector<uint8_t> longer = file;
    longer.insert(longer.end(), tail.begin(), tail.end());
    Result<BackupContents> opened = OpenBackup(longer, AsBytes(kPassphrase));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, ErrorCode::kBadInput);
    EXPECT_EQ(opened.error().message, "the backup file has " + std::to_string(tail.size()) +
                                          " bytes after the end: use an unaltered copy");
  }
}

TEST(BackupTest, OtherFilesAreNotBackups) {
  for (std::string_view text : {"", "U", "UDMGBKU", "hello, world", "{\"root_key\": 1}"}) {
    Result<BackupContents> opened = OpenBackup(AsBytes(text), AsBytes(kPassphrase));
    ASSERT_FALSE(opened.ok()) << text;
    EXPECT_EQ(opened.error().code, ErrorCode::kBadInput) << text;
  }
  EXPECT_EQ(OpenBackup(AsBytes("hello, world"), AsBytes(kPassphrase)).error().message,
            "not a udmg-server backup file: check the backup file's path");
  EXPECT_EQ(OpenBackup(AsBytes("hello, world"), AsBytes(kPassphrase)).error().setting,
            "backup_file");
  std::vector<uint8_t> format2 = SealOrFail(SmallContents());
  format2[8] = 2;
  EXPECT_EQ(OpenBackup(format2, AsBytes(kPassphrase)).error().message,
            "backup format 2 is not supported: open it with the udmg-server version that wrote it");
}

// Out-of-bounds costs stop at the header: kBadInput, where running the KDF would end in the tag
// check (kBadPassphrase), or in allocating gigabytes for N = 2^22, r = 32.
TEST(BackupTest, CostOutOfBoundsIsRefusedBeforeTheKdf) {
  const std::vector<uint8_t> file = SealOrFail(SmallContents());
  ASSERT_FALSE(file.empty());
  struct Case {
    uint8_t log2_n;
    uint32_t r, p;
  };
  for (const Case& c : {Case{9, 8, 1}, Case{23, 8, 1}, Case{10, 0, 1}, Case{10, 33, 1},
                        Case{10, 8, 0}, Case{10, 8, 17}, Case{22, 32, 1}, Case{255, 8, 1},
                        Case{10, 0xFFFFFFFF, 1}, Case{10, 8, 0xFFFFFFFF}}) {
    std::vector<uint8_t> damaged = file;
    damaged[10] = c.log2_n;
    for (int i = 0; i < 4; ++i) {
      damaged[11 + i] = static_cast<uint8_t>(c.r >> (24 - 8 * i));
      damaged[15 + i] = static_cast<uint8_t>(c.p >> (24 - 8 * i));
    }
    Result<BackupContents> opened = OpenBackup(damaged, AsBytes(kPassphrase));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, ErrorCode::kBadInput)
        << int{c.log2_n} << " " << c.r << " " << c.p << ": " << opened.error().message;
    EXPECT_NE(opened.error().message.find("scrypt cost"), std::string::npos);
  }
  // Within bounds, a cost other than the one sealed with runs the KDF and fails the tag.
  std::vector<uint8_t> other_cost = file;
  other_cost[10] = 11;
  EXPECT_EQ(OpenCode(other_cost), Code(ErrorCode::kBadPassphrase));
}

// ---- Contents that authenticate but are wrong (hand-made files) ------------------------------

std::string PlaintextText(const BackupContents& contents) {
  return PlaintextOf(SealOrFail(contents)).dump();
}

TEST(BackupTest, HandMadeContentsOpenOnlyWhenComplete) {
  const RealisticKeyring keyring;
  const nlohmann::json good = nlohmann::json::parse(PlaintextText(keyring.contents));
  EXPECT_EQ(OpenCode(SealPlaintext(good.dump())), 0);   // the independent sealer is right
  EXPECT_EQ(OpenCode(SealPlaintext(good.dump(2))), 0);  // whitespace is JSON's business

  EXPECT_EQ(OpenCode(SealPlaintext("not json")), Code(ErrorCode::kBadInput));
  EXPECT_EQ(OpenCode(SealPlaintext("[]")), Code(ErrorCode::kBadInput));
  for (const char* field :
       {"format", "keyring_id", "keyring_revision", "created_at", "tool_version", "root_version",
        "root_fingerprint", "root_key", "roots", "masters"}) {
    nlohmann::json missing = good;
    missing.erase(field);
    EXPECT_EQ(OpenCode(SealPlaintext(missing.dump())), Code(ErrorCode::kBadInput)) << field;
  }
  nlohmann::json no_k3 = good;
  no_k3["masters"][1].erase("k3");
  EXPECT_EQ(OpenCode(SealPlaintext(no_k3.dump())), Code(ErrorCode::kBadInput));
  nlohmann::json bad_state = good;
  bad_state["masters"][1]["state"] = "Active";
  EXPECT_EQ(OpenCode(SealPlaintext(bad_state.dump())), Code(ErrorCode::kBadInput));
  nlohmann::json big_version = good;
  big_version["root_version"] = uint64_t{1} << 32;
  EXPECT_EQ(OpenCode(SealPlaintext(big_version.dump())), Code(ErrorCode::kBadInput));
  nlohmann::json upper_hex = good;
  std::string upper = HexEncode(keyring.k0_v2);
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  upper_hex["root_key"] = upper;
  EXPECT_EQ(OpenCode(SealPlaintext(upper_hex.dump())), Code(ErrorCode::kBadInput));
}

// The key is lifted out of the text before parsing: a look-alike member must not stand in for it.
TEST(BackupTest, RootKeyLookAlikesAreRefused) {
  const RealisticKeyring keyring;
  const nlohmann::json good = nlohmann::json::parse(PlaintextText(keyring.contents));
  const std::string k0_hex = HexEncode(keyring.k0_v2);

  nlohmann::json look_alike_only = good;  // key `x"root_key` holds the hex, root_key is absent
  look_alike_only.erase("root_key");
  look_alike_only["x\"root_key"] = k0_hex;
  EXPECT_EQ(OpenCode(SealPlaintext(look_alike_only.dump())), Code(ErrorCode::kBadInput));

  nlohmann::json both = good;
  both["x\"root_key"] = HexEncode(RandomSecret(32));
  EXPECT_EQ(OpenCode(SealPlaintext(both.dump())), Code(ErrorCode::kBadInput));

  nlohmann::json in_a_value = good;  // an escaped quote inside a string is not a member
  in_a_value["tool_version"] = "\"root_key\":\"" + HexEncode(RandomSecret(32)) + "\"";
  EXPECT_EQ(OpenCode(SealPlaintext(in_a_value.dump())), 0);

  const std::string twice = "{\"root_key\":\"" + k0_hex + "\"," + good.dump().substr(1);
  EXPECT_EQ(OpenCode(SealPlaintext(twice)), Code(ErrorCode::kBadInput));
}

TEST(BackupTest, KeyMaterialThatDoesNotUnwrapIsCorrupt) {
  const RealisticKeyring keyring;
  const nlohmann::json good = nlohmann::json::parse(PlaintextText(keyring.contents));
  Result<Fernet> stranger = Fernet::Create(RandomSecret(32));
  ASSERT_TRUE(stranger.ok());

  nlohmann::json wrong_fingerprint = good;
  wrong_fingerprint["root_fingerprint"] = RootKeyFingerprint(keyring.k0_v1);
  EXPECT_EQ(OpenCode(SealPlaintext(wrong_fingerprint.dump())), Code(ErrorCode::kCorruptValue));

  nlohmann::json other_key = good;  // a consistent-looking file whose key is another one
  other_key["root_key"] = HexEncode(keyring.k0_v1);
  EXPECT_EQ(OpenCode(SealPlaintext(other_key.dump())), Code(ErrorCode::kCorruptValue));

  nlohmann::json not_current = good;
  not_current["root_version"] = 1;
  EXPECT_EQ(OpenCode(SealPlaintext(not_current.dump())), Code(ErrorCode::kCorruptValue));

  nlohmann::json bad_k3 = good;
  bad_k3["masters"][1]["k3"] = stranger->Encrypt(keyring.k1_v2);
  Result<BackupContents> opened = OpenBackup(SealPlaintext(bad_k3.dump()), AsBytes(kPassphrase));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kCorruptValue);
  EXPECT_NE(opened.error().message.find("master key version 2 (K3) does not unwrap"),
            std::string::npos);
  EXPECT_EQ(opened.error().message.find(HexEncode(keyring.k0_v2)), std::string::npos);

  nlohmann::json bad_old_root = good;
  bad_old_root["roots"][0]["wrapped_key"] = stranger->Encrypt(keyring.k0_v1);
  EXPECT_EQ(OpenCode(SealPlaintext(bad_old_root.dump())), Code(ErrorCode::kCorruptValue));

  nlohmann::json two_active = good;
  two_active["masters"][1]["state"] = "active";
  EXPECT_EQ(OpenCode(SealPlaintext(two_active.dump())), Code(ErrorCode::kCorruptValue));

  // A retired K3 is not needed to read anything: it is carried as it is, not checked.
  nlohmann::json retired_garbage = good;
  retired_garbage["masters"][0]["k3"] = "not a token";
  EXPECT_EQ(OpenCode(SealPlaintext(retired_garbage.dump())), 0);
}

// ---- Interoperability with Python's cryptography (an independent implementation) -------------

class BackupInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    UDMG_REQUIRE_PYTHON_CRYPTOGRAPHY();
  }

  // Runs backup_interop.py; its stdout, or "" after failing the test.
  std::string RunInterop(const std::string& action, const std::filesystem::path& file) {
    const std::string command = "python3 '" UDMG_SOURCE_DIR "/tests/engine/backup_interop.py' " +
                                action + " '" + file.string() + "' '" + std::string(kPassphrase) +
                                "'";
    FILE* pipe = popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    if (pipe == nullptr) return "";
    std::string output;
    char buffer[4096];
    for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
    const int status = pclose(pipe);
    EXPECT_EQ(status, 0) << command;
    return status == 0 ? output : "";
  }

  ::udmg::testing::TempDir dir_{"udmg-backup-"};
};

std::string Sha256Hex(std::span<const uint8_t> bytes) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size(), digest);
  return HexEncode(digest);
}

TEST_F(BackupInteropTest, PythonOpensOurFile) {
  const RealisticKeyring keyring;
  const std::vector<uint8_t> file = SealOrFail(keyring.contents);
  const std::filesystem::path path = dir_.path() / "ours.udmgbackup";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  const std::string output = RunInterop("open", path);
  ASSERT_FALSE(output.empty());
  const nlohmann::json summary = nlohmann::json::parse(output);
  EXPECT_EQ(summary["cost"], nlohmann::json({10, 8, 1}));
  EXPECT_EQ(summary["keyring_id"], keyring.contents.keyring_id);
  EXPECT_EQ(summary["keyring_revision"], 7);
  EXPECT_EQ(summary["created_at"], kNow + 40);
  EXPECT_EQ(summary["tool_version"], "0.6.0-test");
  EXPECT_EQ(summary["root_version"], 2);
  EXPECT_EQ(summary["root_fingerprint"], RootKeyFingerprint(keyring.k0_v2));
  EXPECT_EQ(summary["roots"], nlohmann::json({1, 2}));
  // Python's Fernet unwraps every K3 that is not retired, under the backed-up K0, to our K1s.
  EXPECT_EQ(
      summary["masters"],
      (nlohmann::json{
          {"1", {{"state", "retired"}, {"root_version", 2}}},
          {"2",
           {{"state", "decrypt_only"},
            {"root_version", 2},
            {"k1_sha256", Sha256Hex(keyring.k1_v2)}}},
          {"3",
           {{"state", "active"}, {"root_version", 2}, {"k1_sha256", Sha256Hex(keyring.k1_v3)}}}}));
}

TEST_F(BackupInteropTest, WeOpenPythonsFile) {
  const std::filesystem::path path = dir_.path() / "python.udmgbackup";
  const std::string output = RunInterop("seal", path);
  ASSERT_FALSE(output.empty());
  const nlohmann::json expected = nlohmann::json::parse(output);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> file{std::istreambuf_iterator<char>(in), {}};

  Result<BackupContents> opened = OpenBackup(file, AsBytes(kPassphrase));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->keyring_id, expected["keyring_id"]);
  EXPECT_EQ(opened->keyring_revision, 5);
  EXPECT_EQ(opened->records.revision, 5);
  EXPECT_EQ(opened->tool_version, "python-interop");
  EXPECT_EQ(HexEncode(opened->root_key), expected["root_key"]);
  ASSERT_EQ(opened->records.roots.size(), 2u);
  EXPECT_EQ(opened->records.roots[0].fingerprint,
            RootKeyFingerprint(testing::Hex(expected["old_root_key"].get<std::string>())));
  Result<std::shared_ptr<const Keyring>> restored =
      Keyring::Open(opened->records, opened->root_key);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ((*restored)->active_version(), 2u);
  for (const char* version : {"1", "2"}) {
    const SecretBytes* k1 = (*restored)->MasterKey(static_cast<uint32_t>(std::stoul(version)));
    ASSERT_NE(k1, nullptr);
    EXPECT_EQ(HexEncode(*k1), expected["k1"][version]);
  }
  EXPECT_EQ(OpenCode(file, "not the passphrase"), Code(ErrorCode::kBadPassphrase));
}

}  // namespace
}  // namespace udmg
