#include "engine/fernet.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "engine/encoding.h"
#include "engine_test_util.h"

namespace udmg {
namespace {

using testing::Bytes;
using testing::Pattern;
using testing::ReadTestData;
using testing::Text;

// RFC 3339 "1985-10-26T01:20:00-07:00" (the vectors' form) to unix seconds.
uint64_t ParseRfc3339(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, off_h = 0, off_m = 0;
  char sign = '+';
  if (text.size() >= 20 && text.back() == 'Z') {
    EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &year, &month, &day, &hour, &minute,
                          &second),
              6)
        << text;
  } else {
    EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d%c%d:%d", &year, &month, &day, &hour,
                          &minute, &second, &sign, &off_h, &off_m),
              9)
        << text;
  }
  using namespace std::chrono;
  const sys_days date = year_month_day{std::chrono::year(year), std::chrono::month(month),
                                       std::chrono::day(day)};
  int64_t seconds = date.time_since_epoch().count() * int64_t{86400} + hour * 3600 + minute * 60 +
                    second;
  const int64_t offset = (off_h * 3600 + off_m * 60) * (sign == '-' ? -1 : 1);
  return static_cast<uint64_t>(seconds - offset);  // local = UTC + offset
}

Fernet FernetFromBase64Url(const std::string& secret) {
  std::optional<std::vector<uint8_t>> key = Base64UrlDecode(secret);
  EXPECT_TRUE(key && key->size() == 32) << "vector key is not base64url of 32 bytes";
  Result<Fernet> fernet = Fernet::Create(key.value_or(std::vector<uint8_t>(32)));
  EXPECT_TRUE(fernet.ok());
  return std::move(fernet).value();
}

// The vectors of one of the spec's files: fails the test unless they are a non-empty array.
nlohmann::json ReadVectors(const std::string& file) {
  nlohmann::json vectors = ReadTestData(file);
  EXPECT_TRUE(vectors.is_array() && !vectors.empty()) << file << " holds no vectors";
  return vectors.is_array() ? vectors : nlohmann::json::array();
}

// A verify or invalid vector's token decrypted under its secret, at its time, with its TTL.
Result<SecretBytes> DecryptAsTheVectorSays(const nlohmann::json& v) {
  return FernetFromBase64Url(v.at("secret"))
      .DecryptAt(v.at("token").get<std::string>(), ParseRfc3339(v.at("now")),
                 v.at("ttl_sec").get<uint64_t>());
}

TEST(FernetTest, Rfc3339Parser) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(ParseRfc3339("1985-10-26T01:20:00-07:00"), 499162800u);  // 08:20 UTC
  EXPECT_EQ(ParseRfc3339("1985-10-26T10:20:00+02:00"), 499162800u);
}

TEST(FernetTest, GenerateVectors) {
  for (const auto& v : ReadVectors("fernet/generate.json")) {
    const Fernet fernet = FernetFromBase64Url(v.at("secret"));
    std::vector<uint8_t> iv = v.at("iv").get<std::vector<uint8_t>>();
    ASSERT_EQ(iv.size(), 16u);
    const std::string token = fernet.EncryptAt(Bytes(v.at("src").get<std::string>()),
                                               ParseRfc3339(v.at("now")),
                                               std::span<const uint8_t, 16>(iv.data(), 16));
    EXPECT_EQ(token, v.at("token").get<std::string>());
    Result<SecretBytes> plain = fernet.Decrypt(token);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(Text(*plain), v.at("src").get<std::string>());
  }
}

TEST(FernetTest, VerifyVectors) {
  for (const auto& v : ReadVectors("fernet/verify.json")) {
    Result<SecretBytes> plain = DecryptAsTheVectorSays(v);
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ(Text(*plain), v.at("src").get<std::string>());
  }
}

TEST(FernetTest, InvalidVectorsAllFailAlike) {
  const nlohmann::json vectors = ReadVectors("fernet/invalid.json");
  ASSERT_EQ(vectors.size(), 8u);
  for (const auto& v : vectors) {
    Result<SecretBytes> plain = DecryptAsTheVectorSays(v);
    ASSERT_FALSE(plain.ok()) << "accepted: " << v.at("desc");
    EXPECT_EQ(plain.error().code, ErrorCode::kCorruptValue);
    EXPECT_EQ(plain.error().message, "Fernet token does not verify") << v.at("desc");
  }
}

// Interop: made with Python's cryptography,
//   Fernet(base64.urlsafe_b64encode(bytes(range(32)))).encrypt(b"interop: made by Python ...")
TEST(FernetTest, DecryptsAPythonToken) {
  std::vector<uint8_t> k0(32);
  for (size_t i = 0; i < k0.size(); ++i) k0[i] = static_cast<uint8_t>(i);
  Result<Fernet> fernet = Fernet::Create(k0);
  ASSERT_TRUE(fernet.ok());
  Result<SecretBytes> plain = fernet->Decrypt(
      "gAAAAABrCgZ1-bC5Es9Beo_JnAGZkH0Vmn6lBxQVwdg6i7mexKiDz4j8kaSA-THP86bxGy7KNSyO4JFiHZ9MO_5mF-"
      "O39giOO242jF6n5JxmjHyq3p11CD8NWygOYdcP-in2IHCl6D2A");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(Text(*plain), "interop: made by Python cryptography");
}

TEST(FernetTest, RoundTripsManySizes) {
  const SecretBytes key = RandomSecret(32);
  Result<Fernet> fernet = Fernet::Create(key);
  ASSERT_TRUE(fernet.ok());
  for (size_t size : {0, 1, 15, 16, 17, 31, 32, 33, 100, 1000}) {
    const std::vector<uint8_t> plain = Pattern(size, static_cast<uint8_t>(size));
    const std::string token = fernet->Encrypt(plain);
    EXPECT_EQ(token.size() % 4, 0u);
    Result<SecretBytes> back = fernet->Decrypt(token);
    ASSERT_TRUE(back.ok()) << "size " << size;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), plain.begin(), plain.end()));
  }
  EXPECT_NE(fernet->Encrypt(Bytes("same")), fernet->Encrypt(Bytes("same")))  // random IV
      << "two tokens of the same plaintext are equal";
}

TEST(FernetTest, EveryBitFlipAndTruncationIsRejected) {
  const SecretBytes key = RandomSecret(32);
  Result<Fernet> fernet = Fernet::Create(key);
  ASSERT_TRUE(fernet.ok());
  for (size_t size : {0, 1, 16, 33}) {
    const std::string token = fernet->Encrypt(Pattern(size));
    ASSERT_TRUE(fernet->Decrypt(token).ok());
    size_t rejected = 0;
    for (size_t i = 0; i < token.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = token;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        Result<SecretBytes> result = fernet->Decrypt(flipped);
        ASSERT_FALSE(result.ok()) << "size " << size << " char " << i << " bit " << bit;
        EXPECT_EQ(result.error().message, "Fernet token does not verify");
        ++rejected;
      }
    }
    EXPECT_EQ(rejected, token.size() * 8);
    for (size_t length = 0; length < token.size(); ++length) {
      EXPECT_FALSE(fernet->Decrypt(token.substr(0, length)).ok())
          << "size " << size << " truncated to " << length;
    }
  }
}

TEST(FernetTest, WrongKeyFailsLikeAnyOtherFailure) {
  Result<Fernet> right = Fernet::Create(RandomSecret(32));
  Result<Fernet> wrong = Fernet::Create(RandomSecret(32));
  ASSERT_TRUE(right.ok() && wrong.ok());
  Result<SecretBytes> result = wrong->Decrypt(right->Encrypt(Bytes("k1 bytes")));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kCorruptValue);
  EXPECT_EQ(result.error().message, "Fernet token does not verify");
}

TEST(FernetTest, KeyMustBe32Bytes) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    Result<Fernet> fernet = Fernet::Create(Pattern(size));
    ASSERT_FALSE(fernet.ok());
    EXPECT_EQ(fernet.error().code, ErrorCode::kBadKey);
  }
}

TEST(FernetTest, DecryptIgnoresAgeButDecryptAtEnforcesTtl) {
  Result<Fernet> fernet = Fernet::Create(Pattern(32));
  ASSERT_TRUE(fernet.ok());
  std::array<uint8_t, 16> iv{};
  const std::string old_token = fernet->EncryptAt(Bytes("old"), 1000, iv);
  EXPECT_TRUE(fernet->Decrypt(old_token).ok());                      // a K3 never expires
  EXPECT_TRUE(fernet->DecryptAt(old_token, 1060, 60).ok());          // exactly at the TTL
  EXPECT_FALSE(fernet->DecryptAt(old_token, 1061, 60).ok());         // one second late
  EXPECT_TRUE(fernet->DecryptAt(old_token, 940, 60).ok());           // 60 s of clock skew
  EXPECT_FALSE(fernet->DecryptAt(old_token, 939, 60).ok());          // too far in the future
  EXPECT_TRUE(fernet->DecryptAt(old_token, 999999, std::nullopt).ok());
}

}  // namespace
}  // namespace udmg
