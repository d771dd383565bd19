#include "engine/value_cipher.h"

#include <gtest/gtest.h>

#include "engine/encoding.h"
#include "engine/envelope.h"
#include "engine_test_util.h"

namespace udmg {
namespace {

using testing::Bytes;
using testing::Pattern;
using testing::Text;

constexpr int64_t kNow = 1700000000;

struct TestKeyring {
  SecretBytes k0 = RandomSecret(32);
  KeyringRecords records;
  std::shared_ptr<const Keyring> Open() const {
    Result<std::shared_ptr<const Keyring>> keyring = Keyring::Open(records, k0);
    EXPECT_TRUE(keyring.ok()) << keyring.error().message;
    return keyring.ok() ? *keyring : nullptr;
  }
};

TestKeyring MakeKeyring(const std::vector<SecretBytes>& k1_versions) {
  TestKeyring t;
  t.records = NewKeyringRecords(t.k0, k1_versions.at(0), kNow);
  for (size_t i = 1; i < k1_versions.size(); ++i) {
    Result<KeyringRecords> rotated = RotateMasterKey(t.records, t.k0, k1_versions[i], kNow);
    EXPECT_TRUE(rotated.ok()) << rotated.error().message;
    t.records = *rotated;
  }
  return t;
}

TEST(ValueCipherTest, RoundTripsWithTheNormativeShape) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32)}).Open());
  for (size_t size : {0, 1, 15, 16, 64, 1024, 4096}) {
    const std::vector<uint8_t> plain = Pattern(size, static_cast<uint8_t>(size));
    Result<std::string> envelope = cipher.Encrypt(plain);
    ASSERT_TRUE(envelope.ok()) << envelope.error().message;
    ASSERT_TRUE(envelope->starts_with("udmg:v1:"));
    const std::string_view payload = std::string_view(*envelope).substr(8);
    EXPECT_EQ(payload.size(), Base64EncodedSize(kGcmNonceSize + size + kGcmTagSize));
    EXPECT_TRUE(Base64Decode(payload).has_value()) << "payload is not standard base64";
    Result<SecretBytes> back = cipher.Decrypt(*envelope);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), plain.begin(), plain.end()));
  }
  EXPECT_EQ(cipher.encryptions().at(1), 7u);
}

// The batch path decrypts every value of a batch into one buffer: each call must leave exactly
// its own plaintext (shorter after longer too), and a failure must leave nothing behind, even when
// the envelope is well formed and only its tag is wrong.
TEST(ValueCipherTest, DecryptIntoReusesOneBufferAndEmptiesItOnFailure) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32)}).Open());
  SecretBytes plain;
  for (size_t size : {64, 1, 0, 200, 15}) {
    const std::vector<uint8_t> expected = Pattern(size, static_cast<uint8_t>(size + 3));
    Result<std::string> envelope = cipher.Encrypt(expected);
    ASSERT_TRUE(envelope.ok());
    ASSERT_TRUE(cipher.DecryptInto(*envelope, plain).ok());
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), expected.begin(), expected.end()))
        << "size " << size;
  }
  Result<std::string> envelope = cipher.Encrypt(Pattern(40));
  ASSERT_TRUE(envelope.ok());
  ASSERT_TRUE(cipher.DecryptInto(*envelope, plain).ok());
  std::string bad_tag = *envelope;
  char& in_tag = bad_tag[bad_tag.size() - 6];  // a full base64 quad inside the 16-byte tag
  in_tag = in_tag == 'A' ? 'B' : 'A';
  Status failed = cipher.DecryptInto(bad_tag, plain);
  EXPECT_EQ(failed.code(), ErrorCode::kCorruptValue);
  EXPECT_TRUE(plain.empty());
  ASSERT_TRUE(cipher.DecryptInto(*envelope, plain).ok());
  EXPECT_EQ(cipher.DecryptInto("udmg:v1:not base64!", plain).code(), ErrorCode::kBadInput);
  EXPECT_TRUE(plain.empty());
}

TEST(ValueCipherTest, FreshNonceEveryTime) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32)}).Open());
  std::set<std::string> nonces;
  for (int i = 0; i < 64; ++i) {
    Result<std::string> envelope = cipher.Encrypt("same plaintext");
    ASSERT_TRUE(envelope.ok());
    nonces.insert(envelope->substr(8, 16));  // 16 base64 chars = the 12 nonce bytes
  }
  EXPECT_EQ(nonces.size(), 64u);
}

TEST(ValueCipherTest, EveryBitFlipAndTruncationIsRejected) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32)}).Open());
  for (size_t size : {0, 1, 40}) {
    Result<std::string> envelope = cipher.Encrypt(Pattern(size));
    ASSERT_TRUE(envelope.ok());
    const std::string& good = *envelope;
    size_t rejected = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = good;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        Result<SecretBytes> result = cipher.Decrypt(flipped);
        ASSERT_FALSE(result.ok()) << "size " << size << " char " << i << " bit " << bit;
        ++rejected;
      }
    }
    EXPECT_EQ(rejected, good.size() * 8);
    for (size_t length = 0; length < good.size(); ++length) {
      EXPECT_FALSE(cipher.Decrypt(good.substr(0, length)).ok())
          << "size " << size << " truncated to " << length;
    }
    EXPECT_TRUE(cipher.Decrypt(good).ok());
  }
}

TEST(ValueCipherTest, ErrorCodesSayWhatWentWrong) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32)}).Open());
  Result<std::string> envelope = cipher.Encrypt("secret value");
  ASSERT_TRUE(envelope.ok());

  EXPECT_EQ(cipher.Decrypt("udmg:v01:AAAA").error().code, ErrorCode::kBadInput);
  EXPECT_EQ(cipher.Decrypt("udmg:v1:not base64!").error().code, ErrorCode::kBadInput);
  EXPECT_EQ(cipher.Decrypt("udmg:v1:AAAA").error().code, ErrorCode::kBadInput);  // too short
  EXPECT_EQ(cipher.Decrypt("hunter2").error().code, ErrorCode::kBadInput);       // not an envelope

  std::string newer = *envelope;
  newer.replace(0, 8, "udmg:v2:");
  Result<SecretBytes> unknown = cipher.Decrypt(newer);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_NE(unknown.error().message.find("version 2"), std::string::npos);

  std::string tampered = *envelope;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  Result<SecretBytes> corrupt = cipher.Decrypt(tampered);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code, ErrorCode::kCorruptValue);
  EXPECT_EQ(corrupt.error().message, "decryption failed");
}

TEST(ValueCipherTest, OlderVersionsStayReadableAndNewValuesUseTheActiveOne) {
  const SecretBytes k1_v1 = RandomSecret(32);
  TestKeyring v1_only = MakeKeyring({k1_v1});
  ValueCipher old_cipher(v1_only.Open());
  Result<std::string> old_value = old_cipher.Encrypt("stored under v1");
  ASSERT_TRUE(old_value.ok());

  Result<KeyringRecords> rotated = RotateMasterKey(v1_only.records, v1_only.k0, RandomSecret(32),
                                                   kNow + 1);
  ASSERT_TRUE(rotated.ok());
  v1_only.records = *rotated;
  ValueCipher cipher(v1_only.Open());
  Result<SecretBytes> plain = cipher.Decrypt(*old_value);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(Text(*plain), "stored under v1");
  Result<std::string> new_value = cipher.Encrypt(*plain);
  ASSERT_TRUE(new_value.ok());
  EXPECT_TRUE(new_value->starts_with("udmg:v2:"));
  EXPECT_EQ(cipher.encryptions().count(1), 0u);
  EXPECT_EQ(cipher.encryptions().at(2), 1u);

  // Retired: no longer readable.
  v1_only.records.masters[0].state = MasterKeyState::kRetired;
  ValueCipher retired(v1_only.Open());
  Result<SecretBytes> refused = retired.Decrypt(*old_value);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(retired.Decrypt(*new_value).ok());
}

// Interop: envelopes made with Python's cryptography (AESGCM), key = bytes(range(0x20, 0x40)),
// nonce = bytes(range(0xa0, 0xac)), AAD = b"udmg:v3:":
//   "udmg:v3:" + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, b"udmg:v3:"))
constexpr std::string_view kPythonEnvelope =
    "udmg:v3:oKGio6SlpqeoqaqrFlnIWKv35tjORY3KXykeyf9fgEJv82Vv+rS/jiN7jQMa+ou1T36fMA==";
constexpr std::string_view kPythonEmptyEnvelope = "udmg:v3:oKGio6Slpqeoqaqr9Zzu0HzS74FUEUYWXVAyVQ==";

SecretBytes PythonKey() {
  SecretBytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0x20 + i);
  return key;
}

TEST(ValueCipherTest, DecryptsEnvelopesMadeByPython) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32), RandomSecret(32), PythonKey()}).Open());
  Result<SecretBytes> plain = cipher.Decrypt(kPythonEnvelope);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(Text(*plain), "hello from python AESGCM");
  Result<SecretBytes> empty = cipher.Decrypt(kPythonEmptyEnvelope);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->empty());
}

TEST(ValueCipherTest, TheVersionPrefixIsAuthenticated) {
  // Same key as version 1: relabelling the Python envelope "udmg:v1:" changes only the AAD.
  ValueCipher cipher(MakeKeyring({PythonKey()}).Open());
  std::string relabelled(kPythonEnvelope);
  relabelled.replace(0, 8, "udmg:v1:");
  Result<SecretBytes> result = cipher.Decrypt(relabelled);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kCorruptValue);
}

// ---- Row binding (udmg:b<N>:, docs/security.md) ------------------------------------------------

// Interop: the same key and nonce as kPythonEnvelope, AAD = b"udmg:b3:credentials\0secret\042":
//   AESGCM(key).encrypt(nonce, b"bound to row 42", b"udmg:b3:" + b"credentials" + b"\0" +
//                       b"secret" + b"\0" + b"42")
constexpr std::string_view kPythonBoundEnvelope =
    "udmg:b3:oKGio6SlpqeoqaqrHFPRWqD39MWBWsLNBmlEZ3YpCK2oMWiiUYQFcdaQlA==";

ValueLocation Row(std::string_view key, std::optional<uint32_t> bound_since = 1) {
  return ValueLocation{"credentials", "secret", key, bound_since};
}

TEST(ValueCipherBindingTest, DecryptsABoundEnvelopeMadeByPythonOnlyInItsRow) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32), RandomSecret(32), PythonKey()}).Open());
  const ValueLocation row42 = Row("42");
  Result<SecretBytes> plain = cipher.Decrypt(kPythonBoundEnvelope, &row42);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(Text(*plain), "bound to row 42");
  // Any other row, column or table: the AAD differs.
  for (const ValueLocation& elsewhere :
       {Row("43"), Row("4"), Row("420"), ValueLocation{"credentials", "token", "42", 1},
        ValueLocation{"credential", "ssecret", "42", 1}, ValueLocation{"users", "secret", "42", 1},
        Row("42", std::nullopt)}) {
    if (!elsewhere.bound_since && elsewhere.row_key == "42") {
      // An unbound column still reads a bound value in its own row (after `columns unbind`).
      EXPECT_TRUE(cipher.Decrypt(kPythonBoundEnvelope, &elsewhere).ok());
      continue;
    }
    Result<SecretBytes> moved = cipher.Decrypt(kPythonBoundEnvelope, &elsewhere);
    ASSERT_FALSE(moved.ok()) << elsewhere.table << "." << elsewhere.column << " "
                             << elsewhere.row_key;
    EXPECT_EQ(moved.error().code, ErrorCode::kCorruptValue);
  }
}

TEST(ValueCipherBindingTest, ABoundColumnWritesTheBoundFormThatRoundTripsOnlyInItsRow) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32), RandomSecret(32)}).Open());
  const ValueLocation row7 = Row("7", 3);
  Result<std::string> envelope = cipher.Encrypt("s3cret", &row7);
  ASSERT_TRUE(envelope.ok()) << envelope.error().message;
  EXPECT_TRUE(envelope->starts_with("udmg:b2:")) << *envelope;
  Result<SecretBytes> back = cipher.Decrypt(*envelope, &row7);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(Text(*back), "s3cret");
  const ValueLocation row8 = Row("8", 3);
  EXPECT_EQ(cipher.Decrypt(*envelope, &row8).error().code, ErrorCode::kCorruptValue);
  // Relabelled as unbound: the AAD no longer matches.
  std::string relabelled = *envelope;
  relabelled[5] = 'v';
  EXPECT_EQ(cipher.Decrypt(relabelled, &row7).error().code, ErrorCode::kCorruptValue);
  // Without a location it is a caller's bug, never a silent success.
  EXPECT_EQ(cipher.Decrypt(*envelope).error().code, ErrorCode::kInternal);
  // An unbound column's location writes the unbound form.
  const ValueLocation unbound = Row("7", std::nullopt);
  Result<std::string> plain_form = cipher.Encrypt("s3cret", &unbound);
  ASSERT_TRUE(plain_form.ok());
  EXPECT_TRUE(plain_form->starts_with("udmg:v2:")) << *plain_form;
  EXPECT_EQ(cipher.encryptions().at(2), 2u);
}

// The downgrade rule: an unbound envelope in a bound column is accepted only under a version
// older than the one the binding starts at (values that existed before binding).
TEST(ValueCipherBindingTest, ABoundColumnRefusesUnboundValuesFromItsBindingVersionOn) {
  ValueCipher cipher(MakeKeyring({RandomSecret(32), RandomSecret(32), RandomSecret(32)}).Open());
  Result<std::string> v3 = cipher.Encrypt("old");
  ASSERT_TRUE(v3.ok());
  const ValueLocation bound_from_3 = Row("1", 3);
  const ValueLocation bound_from_4 = Row("1", 4);
  Result<SecretBytes> refused = cipher.Decrypt(*v3, &bound_from_3);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruptValue);
  EXPECT_NE(refused.error().message.find("unbound"), std::string::npos) << refused.error().message;
  Result<SecretBytes> accepted = cipher.Decrypt(*v3, &bound_from_4);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(Text(*accepted), "old");
  // Where nothing is bound, nothing is refused.
  const ValueLocation not_bound = Row("1", std::nullopt);
  EXPECT_TRUE(cipher.Decrypt(*v3, &not_bound).ok());
  EXPECT_TRUE(cipher.Decrypt(*v3).ok());
}

}  // namespace
}  // namespace udmg
