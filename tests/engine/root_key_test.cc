#include "engine/root_key.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "engine/encoding.h"

namespace udmg {
namespace {

constexpr std::string_view kKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(RootKeyTest, ParsesSixtyFourHexDigits) {
  Result<SecretBytes> key = ParseRootKey(kKeyHex, kRootKeyEnv);
  ASSERT_TRUE(key.ok()) << key.error().message;
  ASSERT_EQ(key->size(), kKeySize);
  for (size_t i = 0; i < kKeySize; ++i) EXPECT_EQ((*key)[i], i);
}

TEST(RootKeyTest, IgnoresSurroundingWhitespaceAndAcceptsUppercase) {
  std::string upper(kKeyHex);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& text : {" \t" + std::string(kKeyHex) + "\n", std::string(kKeyHex) + "\r\n",
                                  upper}) {
    Result<SecretBytes> key = ParseRootKey(text, kRootKeyEnv);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(HexEncode(*key), kKeyHex);
  }
}

TEST(RootKeyTest, WrongLengthGivesTheLengthAndNeverTheValue) {
  const std::string short_key(kKeyHex.substr(0, 63));
  Result<SecretBytes> key = ParseRootKey("  " + short_key + "  ", kRootKeyEnv);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, ErrorCode::kBadKey);
  EXPECT_EQ(key.error().message,
            "UDMG_SECURITY_PASSPHRASE_KEY must be 64 hex characters (32 bytes); found 63 "
            "characters");
  EXPECT_EQ(key.error().message.find("0102"), std::string::npos);

  const std::pair<std::string, size_t> cases[] = {
      {"", 0}, {"   ", 0}, {std::string(kKeyHex) + "0", 65}, {std::string(kKeyHex) + "  0", 67},
      {std::string(kKeyHex) + std::string(kKeyHex), 128}};
  for (const auto& [text, found] : cases) {
    Result<SecretBytes> bad = ParseRootKey(text, "--new-key");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kBadKey);
    EXPECT_EQ(bad.error().message, "--new-key must be 64 hex characters (32 bytes); found " +
                                       std::to_string(found) + " characters");
  }
}

TEST(RootKeyTest, NonHexCharacterGivesItsPositionOnly) {
  std::string text(kKeyHex);
  text[11] = 'g';  // 12th character
  Result<SecretBytes> key = ParseRootKey(text, kRootKeyEnv);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, ErrorCode::kBadKey);
  EXPECT_EQ(key.error().message,
            "UDMG_SECURITY_PASSPHRASE_KEY must be 64 hex characters (32 bytes); found a non-hex "
            "character at position 12");

  std::string inner_space(kKeyHex);
  inner_space[30] = ' ';
  Result<SecretBytes> spaced = ParseRootKey(inner_space, kRootKeyEnv);
  ASSERT_FALSE(spaced.ok());
  EXPECT_NE(spaced.error().message.find("position 31"), std::string::npos);
}

// Known answers computed with Python:
//   hmac.new(bytes.fromhex(K), b"udmg-k0-fingerprint", hashlib.sha256).hexdigest()[:32]
TEST(RootKeyTest, FingerprintMatchesPythonHmac) {
  const std::pair<std::string_view, std::string_view> known[] = {
      {kKeyHex, "f3f687ad5310b02b399ca90ec79460d6"},
      {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
       "ac9b695c0349b4ebd0c5dff0b34d5ed7"},
      {"4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4fa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
       "d26982efdd25808cd324599102932305"},
  };
  for (const auto& [key_hex, fingerprint] : known) {
    Result<SecretBytes> key = ParseRootKey(key_hex, kRootKeyEnv);
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(RootKeyFingerprint(*key), fingerprint) << key_hex;
  }
}

TEST(RootKeyTest, FingerprintSeparatesKeys) {
  const SecretBytes a = RandomSecret(kKeySize);
  SecretBytes b = a;
  b[31] ^= 1;
  // The documented HMAC, computed here with OpenSSL directly, for a key no vector fixes.
  uint8_t mac[32];
  unsigned int mac_size = 0;
  const std::string_view message = "udmg-k0-fingerprint";
  ASSERT_NE(HMAC(EVP_sha256(), a.data(), static_cast<int>(a.size()),
                 reinterpret_cast<const uint8_t*>(message.data()), message.size(), mac, &mac_size),
            nullptr);
  EXPECT_EQ(RootKeyFingerprint(a), HexEncode(std::span<const uint8_t>(mac, 16)));
  EXPECT_NE(RootKeyFingerprint(a), RootKeyFingerprint(b));
  EXPECT_EQ(RootKeyFingerprint(a).size(), 32u);
}

}  // namespace
}  // namespace udmg
