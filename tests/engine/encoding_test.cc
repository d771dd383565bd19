#include "engine/encoding.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

namespace udmg {
namespace {

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

// OpenSSL's own encoder, as an independent implementation to compare against.
std::string OpenSslBase64(const std::vector<uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

TEST(EncodingTest, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(Bytes(plain)), encoded);
    EXPECT_EQ(Base64UrlEncode(Bytes(plain)), encoded);
    EXPECT_EQ(Base64Decode(encoded), Bytes(plain)) << encoded;
    EXPECT_EQ(Base64UrlDecode(encoded), Bytes(plain)) << encoded;
  }
}

TEST(EncodingTest, AlphabetsDifferOnlyInTheLastTwoSymbols) {
  const std::vector<uint8_t> bytes{0xFB, 0xFF, 0xBF};
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(Base64Decode("+/+/"), bytes);
  EXPECT_EQ(Base64UrlDecode("-_-_"), bytes);
  EXPECT_FALSE(Base64Decode("-_-_"));
  EXPECT_FALSE(Base64UrlDecode("+/+/"));
}

TEST(EncodingTest, MatchesOpenSslAndRoundTripsEveryLength) {
  for (size_t size = 0; size <= 200; ++size) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 97 + size);
    const std::string encoded = Base64Encode(bytes);
    EXPECT_EQ(encoded, OpenSslBase64(bytes)) << "size " << size;
    EXPECT_EQ(encoded.size(), Base64EncodedSize(size));
    EXPECT_EQ(Base64Decode(encoded), bytes) << "size " << size;
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << "size " << size;
  }
}

TEST(EncodingTest, EveryByteValueRoundTrips) {
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Base64Decode(Base64Encode(bytes)), bytes);
  EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
  std::optional<SecretBytes> hex = HexDecode(HexEncode(bytes));
  ASSERT_TRUE(hex);
  EXPECT_TRUE(std::equal(hex->begin(), hex->end(), bytes.begin(), bytes.end()));
}

TEST(EncodingTest, StrictDecoderRefusesMalformedText) {
  for (std::string_view bad : {
           "Zg",        // missing padding
           "Zg=",       // short padding
           "Zg===",     // extra padding
           "Zm9v====",  // a padding-only quad
           "Z===",      // three padding characters
           "====",      // nothing but padding
           "Zh==",      // non-zero trailing bits (canonical is Zg==)
           "Zm9=",      // non-zero trailing bits (canonical is Zm8=)
           "Zm=v",      // padding in the middle of a quad
           "Zg==Zg==",  // padding before the end
           "Zm9v\n",    // newline
           " Zm9v",     // leading space
           "Zm 9v",     // inner space
           "Zm9v\r\n",  // CRLF
           "Zm9*",      // outside the alphabet
           "Zm9v Zm9v",
       }) {
    EXPECT_FALSE(Base64Decode(bad)) << "accepted \"" << bad << "\"";
    EXPECT_FALSE(Base64UrlDecode(bad)) << "accepted \"" << bad << "\"";
  }
  EXPECT_FALSE(Base64Decode(std::string_view("Zm9v\0\0\0\0", 8)));  // embedded NULs
}

TEST(EncodingTest, DecodeIntoReplacesTheBuffer) {
  std::vector<uint8_t> out{9, 9, 9, 9, 9, 9, 9, 9};
  ASSERT_TRUE(Base64DecodeInto("Zm8=", out));
  EXPECT_EQ(out, Bytes("fo"));
  EXPECT_FALSE(Base64DecodeInto("Zm8", out));
  ASSERT_TRUE(Base64DecodeInto("", out));
  EXPECT_TRUE(out.empty());
}

TEST(EncodingTest, EncodeAppendKeepsThePrefix) {
  std::string out = "udmg:v1:";
  Base64EncodeAppend(Bytes("foobar"), out);
  EXPECT_EQ(out, "udmg:v1:Zm9vYmFy");
}

TEST(EncodingTest, HexIsLowercaseAndDecodesEitherCase) {
  const std::vector<uint8_t> bytes{0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(HexEncode(bytes), "000fa0ff");
  for (std::string_view text : {"000fa0ff", "000FA0FF", "000Fa0fF"}) {
    std::optional<SecretBytes> decoded = HexDecode(text);
    ASSERT_TRUE(decoded) << text;
    EXPECT_TRUE(std::equal(decoded->begin(), decoded->end(), bytes.begin(), bytes.end()));
  }
  EXPECT_TRUE(HexDecode("").has_value());
  for (std::string_view bad : {"0", "abc", "0g", "zz", " 00", "00 ", "0x00", "+1"}) {
    EXPECT_FALSE(HexDecode(bad)) << "accepted \"" << bad << "\"";
  }
}

}  // namespace
}  // namespace udmg
