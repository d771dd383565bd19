#include "engine/sealed_root_key.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/encoding.h"

namespace udmg {
namespace {

SealedRootKey Example(std::string token = "T", std::string key = "wrap") {
  SealedRootKey sealed;
  sealed.token_label = std::move(token);
  sealed.key_label = std::move(key);
  for (size_t i = 0; i < kWrappedRootKeySize; ++i) sealed.wrapped.push_back(static_cast<uint8_t>(i * 7));
  return sealed;
}

std::string Wrapped() { return Base64Encode(Example().wrapped); }

// The same bytes with unused bits set in the last character before the padding ("XY=="): a
// second spelling that a lenient decoder would accept.
std::string NonCanonical(std::string base64) {
  char& last = base64[base64.size() - 3];
  last = last == 'A' ? 'B' : (last == 'Q' ? 'R' : static_cast<char>(last + 1));
  return base64;
}

TEST(SealedRootKeyTest, PrintsOneLineThatParsesBack) {
  const std::string text = FormatSealedRootKey(Example());
  EXPECT_EQ(text, "udmg-sealed-k0:v1:aes-key-wrap:T:wrap:" + Wrapped());
  Result<SealedRootKey> parsed = ParseSealedRootKey(" " + text + "\n", "K");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->mechanism, "aes-key-wrap");
  EXPECT_EQ(parsed->token_label, "T");
  EXPECT_EQ(parsed->key_label, "wrap");
  EXPECT_EQ(parsed->wrapped, Example().wrapped);
  EXPECT_TRUE(LooksSealed("\t" + text));
  EXPECT_FALSE(LooksSealed(std::string(64, 'a')));
}

TEST(SealedRootKeyTest, LabelsWithColonsSpacesAndBytesArePercentEncoded) {
  const SealedRootKey sealed = Example("prod token:1", std::string("k\xff%", 3));
  const std::string text = FormatSealedRootKey(sealed);
  EXPECT_NE(text.find(":prod%20token%3A1:k%FF%25:"), std::string::npos) << text;
  Result<SealedRootKey> parsed = ParseSealedRootKey(text, "K");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->token_label, sealed.token_label);
  EXPECT_EQ(parsed->key_label, sealed.key_label);
}

TEST(SealedRootKeyTest, RefusesEveryOtherSpelling) {
  const std::string w = Wrapped();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"udmg-sealed-k0:v2:aes-key-wrap:T:wrap:" + w, "unknown version"},
      {"udmg-sealed-k0:v1:aes-gcm:T:wrap:" + w, "unknown wrapping mechanism"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:" + w, "4 fields"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:wrap:x:" + w, "6 fields"},
      {"udmg-sealed-k0:v1:aes-key-wrap::wrap:" + w, "token label"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T%3a:wrap:" + w, "token label"},  // lowercase escape
      {"udmg-sealed-k0:v1:aes-key-wrap:%54:wrap:" + w, "token label"},   // 'T' escaped
      {"udmg-sealed-k0:v1:aes-key-wrap:T%2:wrap:" + w, "token label"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:" + std::string(33, 'k') + ":" + w, "key label"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:wr p:" + w, "key label"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:wrap:" + w.substr(4), "wrapped key"},
      {"udmg-sealed-k0:v1:aes-key-wrap:T:wrap:" + NonCanonical(w), "wrapped key"},
  };
  for (const auto& [text, part] : cases) {
    Result<SealedRootKey> parsed = ParseSealedRootKey(text, "KEYSRC");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kBadKey);
    EXPECT_TRUE(parsed.error().message.starts_with("KEYSRC holds a malformed sealed root key"))
        << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(part), std::string::npos)
        << text << " -> " << parsed.error().message;
    EXPECT_EQ(parsed.error().message.find(w), std::string::npos) << parsed.error().message;
  }
}

}  // namespace
}  // namespace udmg
