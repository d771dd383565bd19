#include "engine/aead.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "engine_test_util.h"

namespace udmg {
namespace {

using testing::Hex;
using testing::Pattern;
using testing::ReadTestData;

using Nonce = std::span<const uint8_t, kGcmNonceSize>;

Nonce AsNonce(const std::vector<uint8_t>& bytes) { return Nonce(bytes.data(), kGcmNonceSize); }

bool IsOurGroup(const nlohmann::json& group) {
  return group.at("keySize") == 256 && group.at("ivSize") == 96 && group.at("tagSize") == 128;
}

// The number of Wycheproof vectors with keySize 256, ivSize 96, tagSize 128 in aes_gcm_test.json
// (v1 file, 316 tests in all), counted with Python when the file was added.
constexpr size_t kExpectedWycheproofVectors = 66;

TEST(AeadTest, WycheproofAes256Gcm) {
  const nlohmann::json file = ReadTestData("wycheproof/aes_gcm_test.json");
  ASSERT_TRUE(file.is_object());
  size_t in_file = 0, ran = 0, valid = 0, invalid = 0;
  for (const auto& group : file.at("testGroups")) {
    if (!IsOurGroup(group)) continue;
    in_file += group.at("tests").size();
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE("tcId " + std::to_string(test.at("tcId").get<int>()));
      const std::vector<uint8_t> key = Hex(test.at("key").get<std::string>());
      const std::vector<uint8_t> iv = Hex(test.at("iv").get<std::string>());
      const std::vector<uint8_t> aad = Hex(test.at("aad").get<std::string>());
      const std::vector<uint8_t> msg = Hex(test.at("msg").get<std::string>());
      std::vector<uint8_t> sealed = Hex(test.at("ct").get<std::string>());
      const std::vector<uint8_t> tag = Hex(test.at("tag").get<std::string>());
      sealed.insert(sealed.end(), tag.begin(), tag.end());
      ASSERT_EQ(iv.size(), kGcmNonceSize);

      Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(key);
      ASSERT_TRUE(aead.ok());
      Result<SecretBytes> opened = (*aead)->Open(AsNonce(iv), aad, sealed);
      if (test.at("result") == "valid") {
        std::vector<uint8_t> out;
        ASSERT_TRUE((*aead)->Seal(AsNonce(iv), aad, msg, out).ok());
        EXPECT_EQ(out, sealed);
        ASSERT_TRUE(opened.ok());
        EXPECT_TRUE(std::equal(opened->begin(), opened->end(), msg.begin(), msg.end()));
        ++valid;
      } else {
        ASSERT_FALSE(opened.ok());
        EXPECT_EQ(opened.error().code, ErrorCode::kCorruptValue);
        EXPECT_EQ(opened.error().message, "decryption failed");
        ++invalid;
      }
      ++ran;
    }
  }
  EXPECT_EQ(ran, in_file);
  EXPECT_EQ(ran, kExpectedWycheproofVectors);
  EXPECT_GT(valid, 0u);
  EXPECT_GT(invalid, 0u);
}

// A reference that sets up a fresh context for every call, to check that reusing one context
// (only the IV changes) gives the same bytes call after call.
std::vector<uint8_t> ReferenceSeal(const SecretBytes& key, const std::vector<uint8_t>& nonce,
                                   const std::vector<uint8_t>& aad,
                                   const std::vector<uint8_t>& plaintext) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::vector<uint8_t> out(plaintext.size() + kGcmTagSize);
  int n = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &n, plaintext.data(),
                              static_cast<int>(plaintext.size())),
            1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, out.data() + n, &n), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data() + plaintext.size()), 1);
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

TEST(AeadTest, ReusedContextsMatchAFreshContextEveryCall) {
  const SecretBytes key = RandomSecret(32);
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(key);
  ASSERT_TRUE(aead.ok());
  for (size_t round = 0; round < 40; ++round) {
    const size_t size = (round * 37) % 300;
    const std::vector<uint8_t> nonce = Pattern(kGcmNonceSize, static_cast<uint8_t>(round));
    const std::vector<uint8_t> aad = Pattern(round % 3 == 0 ? 0 : 9, static_cast<uint8_t>(round));
    const std::vector<uint8_t> plaintext = Pattern(size, static_cast<uint8_t>(round + 7));
    std::vector<uint8_t> sealed;
    ASSERT_TRUE((*aead)->Seal(AsNonce(nonce), aad, plaintext, sealed).ok());
    EXPECT_EQ(sealed, ReferenceSeal(key, nonce, aad, plaintext)) << "round " << round;
    Result<SecretBytes> opened = (*aead)->Open(AsNonce(nonce), aad, sealed);
    ASSERT_TRUE(opened.ok()) << "round " << round;
    EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plaintext.begin(), plaintext.end()));
    // A failed open must not poison the context for the next call.
    sealed.back() ^= 1;
    EXPECT_FALSE((*aead)->Open(AsNonce(nonce), aad, sealed).ok());
  }
}

TEST(AeadTest, SealAppendsToTheBuffer) {
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(RandomSecret(32));
  ASSERT_TRUE(aead.ok());
  const std::vector<uint8_t> nonce = Pattern(kGcmNonceSize);
  std::vector<uint8_t> out{1, 2, 3};
  ASSERT_TRUE((*aead)->Seal(AsNonce(nonce), {}, Pattern(5), out).ok());
  ASSERT_EQ(out.size(), 3 + 5 + kGcmTagSize);
  EXPECT_EQ(out[0], 1);
  Result<SecretBytes> opened =
      (*aead)->Open(AsNonce(nonce), {}, std::span<const uint8_t>(out).subspan(3));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->size(), 5u);
}

TEST(AeadTest, EveryFailureReadsTheSame) {
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(RandomSecret(32));
  ASSERT_TRUE(aead.ok());
  const std::vector<uint8_t> nonce = Pattern(kGcmNonceSize);
  const std::vector<uint8_t> aad = testing::Bytes("udmg:v1:");
  std::vector<uint8_t> sealed;
  ASSERT_TRUE((*aead)->Seal(AsNonce(nonce), aad, Pattern(20), sealed).ok());

  std::vector<uint8_t> other_nonce = nonce;
  other_nonce[0] ^= 1;
  std::vector<uint8_t> bad_ct = sealed, bad_tag = sealed;
  bad_ct[0] ^= 1;
  bad_tag.back() ^= 0x80;
  const std::vector<uint8_t> other_aad = testing::Bytes("udmg:v2:");
  const std::vector<Result<SecretBytes>> failures = [&] {
    std::vector<Result<SecretBytes>> out;
    out.push_back((*aead)->Open(AsNonce(other_nonce), aad, sealed));
    out.push_back((*aead)->Open(AsNonce(nonce), other_aad, sealed));
    out.push_back((*aead)->Open(AsNonce(nonce), aad, bad_ct));
    out.push_back((*aead)->Open(AsNonce(nonce), aad, bad_tag));
    out.push_back((*aead)->Open(AsNonce(nonce), aad, std::span(sealed).first(15)));
    out.push_back((*aead)->Open(AsNonce(nonce), aad, {}));
    return out;
  }();
  for (const auto& failure : failures) {
    ASSERT_FALSE(failure.ok());
    EXPECT_EQ(failure.error().code, ErrorCode::kCorruptValue);
    EXPECT_EQ(failure.error().message, "decryption failed");
  }
}

TEST(AeadTest, KeyMustBe32Bytes) {
  for (size_t size : {0, 16, 24, 31, 33}) {
    Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(Pattern(size));
    ASSERT_FALSE(aead.ok());
    EXPECT_EQ(aead.error().code, ErrorCode::kBadKey);
  }
}

}  // namespace
}  // namespace udmg
