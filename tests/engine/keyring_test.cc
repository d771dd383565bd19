#include "engine/keyring.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "engine/encoding.h"
#include "engine/fernet.h"
#include "engine/root_key.h"
#include "engine_test_util.h"

namespace udmg {
namespace {

constexpr int64_t kNow = 1700000000;

std::shared_ptr<const Keyring> OpenOrFail(const KeyringRecords& records, const SecretBytes& k0) {
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
  EXPECT_TRUE(keyring.ok()) << keyring.error().message;
  return keyring.ok() ? *keyring : nullptr;
}

bool SameKey(const SecretBytes* a, const SecretBytes& b) { return a && SafeEquals(*a, b); }

TEST(KeyringTest, StateNamesRoundTrip) {
  for (MasterKeyState state :
       {MasterKeyState::kActive, MasterKeyState::kDecryptOnly, MasterKeyState::kRetired}) {
    EXPECT_EQ(ParseMasterKeyState(MasterKeyStateName(state)), state);
  }
  EXPECT_EQ(MasterKeyStateName(MasterKeyState::kDecryptOnly), "decrypt_only");
  EXPECT_FALSE(ParseMasterKeyState("Active"));
  EXPECT_FALSE(ParseMasterKeyState(""));
}

TEST(KeyringTest, NewKeyringHasVersionOneOfEach) {
  const SecretBytes k0 = RandomSecret(32), k1 = RandomSecret(32);
  const KeyringRecords records = NewKeyringRecords(k0, k1, kNow);
  ASSERT_EQ(records.roots.size(), 1u);
  ASSERT_EQ(records.masters.size(), 1u);
  EXPECT_EQ(records.roots[0],
            (RootKeyRecord{1, RootKeyFingerprint(k0), std::nullopt, std::nullopt, kNow}));
  EXPECT_EQ(records.masters[0].version, 1u);
  EXPECT_EQ(records.masters[0].root_version, 1u);
  EXPECT_EQ(records.masters[0].state, MasterKeyState::kActive);
  EXPECT_EQ(records.masters[0].created_at, kNow);

  // K3 is the Fernet token of K1 under K0.
  Result<Fernet> fernet = Fernet::Create(k0);
  ASSERT_TRUE(fernet.ok());
  Result<SecretBytes> unwrapped = fernet->Decrypt(records.masters[0].k3);
  ASSERT_TRUE(unwrapped.ok());
  EXPECT_TRUE(SafeEquals(*unwrapped, k1));

  auto keyring = OpenOrFail(records, k0);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->active_version(), 1u);
  EXPECT_EQ(keyring->root_version(), 1u);
  EXPECT_TRUE(SameKey(keyring->MasterKey(1), k1));
  EXPECT_EQ(keyring->MasterKey(2), nullptr);
  EXPECT_EQ(keyring->readable_versions(), std::vector<uint32_t>{1});
  EXPECT_EQ(keyring->records(), records);
}

// Interop: a K3 made by Python's cryptography,
//   Fernet(base64.urlsafe_b64encode(bytes(range(32)))).encrypt(bytes(range(0x40, 0x60)))
// with the fingerprint of K0 = bytes(range(32)) computed with Python's hmac.
TEST(KeyringTest, OpensAKeyringWrittenByPython) {
  SecretBytes k0(32), k1(32);
  for (size_t i = 0; i < 32; ++i) {
    k0[i] = static_cast<uint8_t>(i);
    k1[i] = static_cast<uint8_t>(0x40 + i);
  }
  KeyringRecords records;
  records.roots.push_back({1, "f3f687ad5310b02b399ca90ec79460d6", std::nullopt, std::nullopt, kNow});
  records.masters.push_back(
      {1,
       "gAAAAABrCgZ1VplYh_kjVALWnjZH_8uT-bz-BiiOBpfLqSlELDUhJql9CxOqc76--5FJ7Uyowo_ZFpp3ak7XoyarTEqt"
       "dscdo3-GEBvnHOVjhahoG5O7d0iswkyO8ZOUIysIcyvVisBG",
       1, MasterKeyState::kActive, kNow});
  auto keyring = OpenOrFail(records, k0);
  ASSERT_TRUE(keyring);
  EXPECT_TRUE(SameKey(keyring->MasterKey(1), k1));
}

// The other direction, live: Python unwraps a K3 we made (UDMG_REQUIRE_PYTHON_CRYPTOGRAPHY).
TEST(KeyringTest, PythonUnwrapsOurK3) {
  UDMG_REQUIRE_PYTHON_CRYPTOGRAPHY();
  const SecretBytes k0 = RandomSecret(32), k1 = RandomSecret(32);
  const KeyringRecords records = NewKeyringRecords(k0, k1, kNow);
  const std::string command =
      "python3 -c \"import base64,sys; from cryptography.fernet import Fernet; "
      "print(Fernet(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1]))).decrypt(sys.argv[2]."
      "encode()).hex())\" " +
      HexEncode(k0) + " " + records.masters[0].k3;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[128] = {};
  const size_t n = fread(buffer, 1, sizeof(buffer) - 1, pipe);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "Python could not unwrap our K3";
  EXPECT_EQ(std::string(buffer, n), HexEncode(k1) + "\n");
}

TEST(KeyringTest, WrongRootKeyIsRefusedWithVersionsAndFingerprints) {
  const SecretBytes k0 = RandomSecret(32), stranger = RandomSecret(32);
  const KeyringRecords records = NewKeyringRecords(k0, RandomSecret(32), kNow);
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, stranger);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.error().code, ErrorCode::kWrongKey);
  const std::string& message = keyring.error().message;
  EXPECT_EQ(message,
            "this node's UDMG_SECURITY_PASSPHRASE_KEY is an unknown root key: it matches no root "
            "key version of this database (fingerprint " + RootKeyFingerprint(stranger) + "); the current version is 1 "
            "(fingerprint " + RootKeyFingerprint(k0) + "): set UDMG_SECURITY_PASSPHRASE_KEY on "
            "this node to the current key and restart");
  EXPECT_EQ(message.find(HexEncode(stranger)), std::string::npos);
  EXPECT_EQ(message.find(HexEncode(k0)), std::string::npos);
}

struct Rotated {
  SecretBytes k0_v1 = RandomSecret(32), k0_v2 = RandomSecret(32), k0_v3 = RandomSecret(32);
  SecretBytes k1 = RandomSecret(32);
  KeyringRecords v1, v2, v3;
};

Rotated RotateTwice() {
  Rotated r;
  r.v1 = NewKeyringRecords(r.k0_v1, r.k1, kNow);
  Result<KeyringRecords> v2 = RotateRootKey(r.v1, r.k0_v1, r.k0_v2, kNow + 10);
  EXPECT_TRUE(v2.ok()) << v2.error().message;
  if (v2.ok()) r.v2 = *v2;
  Result<KeyringRecords> v3 = RotateRootKey(r.v2, r.k0_v2, r.k0_v3, kNow + 20);
  EXPECT_TRUE(v3.ok()) << v3.error().message;
  if (v3.ok()) r.v3 = *v3;
  return r;
}

TEST(KeyringTest, RootRotationRewrapsEverythingUnderTheNewKey) {
  const Rotated r = RotateTwice();
  ASSERT_EQ(r.v2.roots.size(), 2u);
  EXPECT_EQ(r.v2.roots[1],
            (RootKeyRecord{2, RootKeyFingerprint(r.k0_v2), std::nullopt, std::nullopt, kNow + 10}));
  EXPECT_EQ(r.v2.roots[0].wrapped_by, 2u);
  EXPECT_EQ(r.v2.roots[0].created_at, kNow);
  EXPECT_EQ(r.v2.masters[0].root_version, 2u);
  EXPECT_EQ(r.v2.revision, r.v1.revision);

  ASSERT_EQ(r.v3.roots.size(), 3u);
  for (int i : {0, 1}) {
    EXPECT_EQ(r.v3.roots[i].wrapped_by, 3u);
    ASSERT_TRUE(r.v3.roots[i].wrapped_key.has_value());
  }
  EXPECT_EQ(r.v3.masters.size(), 1u);
  EXPECT_EQ(r.v3.masters[0].root_version, 3u);
  EXPECT_EQ(r.v3.masters[0].state, MasterKeyState::kActive);

  // Historical K0s unwrap, under the current K0, to the old keys.
  Result<Fernet> current = Fernet::Create(r.k0_v3);
  ASSERT_TRUE(current.ok());
  Result<SecretBytes> old1 = current->Decrypt(*r.v3.roots[0].wrapped_key);
  Result<SecretBytes> old2 = current->Decrypt(*r.v3.roots[1].wrapped_key);
  ASSERT_TRUE(old1.ok() && old2.ok());
  EXPECT_TRUE(SafeEquals(*old1, r.k0_v1));
  EXPECT_TRUE(SafeEquals(*old2, r.k0_v2));

  auto keyring = OpenOrFail(r.v3, r.k0_v3);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->root_version(), 3u);
  EXPECT_TRUE(SameKey(keyring->MasterKey(1), r.k1));  // K1 unchanged
}

TEST(KeyringTest, OlderRootKeyIsRefusedNamingBothVersions) {
  const Rotated r = RotateTwice();
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(r.v3, r.k0_v1);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.error().code, ErrorCode::kWrongKey);
  EXPECT_EQ(keyring.error().message,
            "this node's UDMG_SECURITY_PASSPHRASE_KEY is root key version 1 (fingerprint " +
                RootKeyFingerprint(r.k0_v1) + "), but the current version is 3 (fingerprint " +
                RootKeyFingerprint(r.k0_v3) +
                "): set UDMG_SECURITY_PASSPHRASE_KEY on this node to the current key and restart");

  const RootKeyCheck check = CheckRootKey(r.v3, r.k0_v2);
  EXPECT_EQ(check.standing, RootKeyStanding::kOlder);
  EXPECT_EQ(check.version, 2u);
  EXPECT_EQ(check.current_version, 3u);
  EXPECT_EQ(CheckRootKey(r.v3, r.k0_v3).standing, RootKeyStanding::kCurrent);
  EXPECT_EQ(CheckRootKey(r.v3, RandomSecret(32)).standing, RootKeyStanding::kUnknown);
}

TEST(KeyringTest, ReusedRootKeysAreRefused) {
  const Rotated r = RotateTwice();
  for (const SecretBytes* reused : {&r.k0_v3, &r.k0_v2, &r.k0_v1}) {
    Result<KeyringRecords> rotated = RotateRootKey(r.v3, r.k0_v3, *reused, kNow + 30);
    ASSERT_FALSE(rotated.ok());
    EXPECT_EQ(rotated.error().code, ErrorCode::kBadKey);
    EXPECT_NE(rotated.error().message.find("may not be reused"), std::string::npos);
  }
  Result<KeyringRecords> short_key = RotateRootKey(r.v3, r.k0_v3, RandomSecret(16), kNow);
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.error().code, ErrorCode::kBadKey);
}

TEST(KeyringTest, RotationsNeedTheCurrentRootKey) {
  const Rotated r = RotateTwice();
  Result<KeyringRecords> root = RotateRootKey(r.v3, r.k0_v2, RandomSecret(32), kNow);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().code, ErrorCode::kWrongKey);
  Result<KeyringRecords> master = RotateMasterKey(r.v3, r.k0_v1, RandomSecret(32), kNow);
  ASSERT_FALSE(master.ok());
  EXPECT_EQ(master.error().code, ErrorCode::kWrongKey);
}

TEST(KeyringTest, MasterRotationKeepsOlderVersionsReadable) {
  const SecretBytes k0 = RandomSecret(32), k1_a = RandomSecret(32), k1_b = RandomSecret(32);
  const KeyringRecords v1 = NewKeyringRecords(k0, k1_a, kNow);
  Result<KeyringRecords> v2 = RotateMasterKey(v1, k0, k1_b, kNow + 5);
  ASSERT_TRUE(v2.ok()) << v2.error().message;
  ASSERT_EQ(v2->masters.size(), 2u);
  EXPECT_EQ(v2->masters[0].state, MasterKeyState::kDecryptOnly);
  EXPECT_EQ(v2->masters[0].k3, v1.masters[0].k3);  // untouched
  EXPECT_EQ(v2->masters[1].version, 2u);
  EXPECT_EQ(v2->masters[1].state, MasterKeyState::kActive);
  EXPECT_EQ(v2->masters[1].root_version, 1u);
  EXPECT_EQ(v2->masters[1].created_at, kNow + 5);
  EXPECT_EQ(v2->roots, v1.roots);

  auto keyring = OpenOrFail(*v2, k0);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->active_version(), 2u);
  EXPECT_TRUE(SameKey(keyring->MasterKey(1), k1_a));
  EXPECT_TRUE(SameKey(keyring->MasterKey(2), k1_b));
  EXPECT_EQ(keyring->readable_versions(), (std::vector<uint32_t>{1, 2}));

  // A reused master key is refused too.
  Result<KeyringRecords> reused = RotateMasterKey(*v2, k0, k1_a, kNow + 6);
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.error().code, ErrorCode::kBadKey);
}

TEST(KeyringTest, RetiredVersionsAreNotReadableButSurviveRootRotation) {
  const SecretBytes k0 = RandomSecret(32), k0_new = RandomSecret(32);
  const SecretBytes k1_a = RandomSecret(32), k1_b = RandomSecret(32);
  Result<KeyringRecords> v2 = RotateMasterKey(NewKeyringRecords(k0, k1_a, kNow), k0, k1_b, kNow);
  ASSERT_TRUE(v2.ok());
  KeyringRecords records = *v2;
  records.masters[0].state = MasterKeyState::kRetired;

  auto keyring = OpenOrFail(records, k0);
  ASSERT_TRUE(keyring);
  EXPECT_EQ(keyring->MasterKey(1), nullptr);
  EXPECT_TRUE(SameKey(keyring->MasterKey(2), k1_b));
  EXPECT_EQ(keyring->readable_versions(), std::vector<uint32_t>{2});

  Result<KeyringRecords> rotated = RotateRootKey(records, k0, k0_new, kNow);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_EQ(rotated->masters[0].state, MasterKeyState::kRetired);
  EXPECT_EQ(rotated->masters[0].root_version, 2u);
  Result<Fernet> fernet = Fernet::Create(k0_new);
  ASSERT_TRUE(fernet.ok());
  Result<SecretBytes> retired_k1 = fernet->Decrypt(rotated->masters[0].k3);
  ASSERT_TRUE(retired_k1.ok());
  EXPECT_TRUE(SafeEquals(*retired_k1, k1_a));
}

// A K3 still wrapped by an older root version is read through the historical K0.
TEST(KeyringTest, K3UnderAHistoricalRootUnwrapsThroughIt) {
  const Rotated r = RotateTwice();
  KeyringRecords mixed = r.v3;
  mixed.masters[0] = r.v1.masters[0];  // K3 under root version 1
  auto keyring = OpenOrFail(mixed, r.k0_v3);
  ASSERT_TRUE(keyring);
  EXPECT_TRUE(SameKey(keyring->MasterKey(1), r.k1));
}

Error OpenError(const KeyringRecords& records, const SecretBytes& k0) {
  Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
  EXPECT_FALSE(keyring.ok());
  return keyring.ok() ? Error{} : keyring.error();
}

TEST(KeyringTest, InconsistentRecordsAreRefused) {
  const SecretBytes k0 = RandomSecret(32);
  Result<KeyringRecords> two = RotateMasterKey(NewKeyringRecords(k0, RandomSecret(32), kNow), k0,
                                               RandomSecret(32), kNow);
  ASSERT_TRUE(two.ok());
  const KeyringRecords good = *two;

  KeyringRecords records = good;
  records.masters[0].state = MasterKeyState::kActive;
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);  // two active
  EXPECT_NE(OpenError(records, k0).message.find("2 master key versions are active"),
            std::string::npos);

  records = good;
  records.masters[1].state = MasterKeyState::kDecryptOnly;
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);  // none active

  records = good;
  records.masters[1].version = 1;
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);  // repeated version

  records = good;
  records.masters[0].root_version = 9;
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);  // unknown root

  records = good;
  records.masters[0].k3[20] = records.masters[0].k3[20] == 'A' ? 'B' : 'A';
  const Error corrupt = OpenError(records, k0);
  EXPECT_EQ(corrupt.code, ErrorCode::kCorruptValue);
  EXPECT_NE(corrupt.message.find("master key version 1 (K3) does not unwrap"), std::string::npos);

  records = good;
  records.roots.push_back({2, RootKeyFingerprint(RandomSecret(32)), std::nullopt, std::nullopt, 0});
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);  // two current roots

  records = good;
  records.roots.clear();
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kNotInitialized);

  records = good;
  records.masters.clear();
  EXPECT_EQ(OpenError(records, k0).code, ErrorCode::kCorruptValue);
}

TEST(KeyringTest, InconsistentHistoricalRootsAreRefused) {
  const Rotated r = RotateTwice();
  KeyringRecords records = r.v3;
  records.roots[0].wrapped_by = 2;  // not wrapped by the current version
  EXPECT_EQ(OpenError(records, r.k0_v3).code, ErrorCode::kCorruptValue);

  records = r.v3;
  records.roots[1].version = 1;  // repeated version
  EXPECT_EQ(OpenError(records, r.k0_v3).code, ErrorCode::kCorruptValue);

  // A historical K0 that does not match its fingerprint cannot be used to unwrap a K3.
  records = r.v3;
  records.masters[0] = r.v1.masters[0];
  records.roots[0].wrapped_key = records.roots[1].wrapped_key;
  EXPECT_EQ(OpenError(records, r.k0_v3).code, ErrorCode::kCorruptValue);
}

}  // namespace
}  // namespace udmg
