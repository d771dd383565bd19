#include "base/percent_encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace udmg {
namespace {

TEST(PercentEncodingTest, UnreservedBytesStayAndOthersAreUpperCaseHex) {
  EXPECT_EQ(PercentEncode("az-AZ_09.~"), "az-AZ_09.~");
  EXPECT_EQ(PercentEncode("a b:c/\xff"), "a%20b%3Ac%2F%FF");
  EXPECT_EQ(PercentEncode(std::string("\0", 1)), "%00");
}

TEST(PercentEncodingTest, DecodingInvertsEncoding) {
  const std::string every_byte = [] {
    std::string text;
    for (int byte = 0; byte < 256; ++byte) text += static_cast<char>(byte);
    return text;
  }();
  EXPECT_EQ(PercentDecodeCanonical(PercentEncode(every_byte)), every_byte);
}

TEST(PercentEncodingTest, DecodingRefusesEveryOtherSpelling) {
  EXPECT_EQ(PercentDecodeCanonical("%3a"), std::nullopt);   // lower-case hex
  EXPECT_EQ(PercentDecodeCanonical("%41"), std::nullopt);   // an encoded unreserved byte
  EXPECT_EQ(PercentDecodeCanonical("a b"), std::nullopt);   // a raw reserved byte
  EXPECT_EQ(PercentDecodeCanonical("%2"), std::nullopt);    // cut short
  EXPECT_EQ(PercentDecodeCanonical("%G0"), std::nullopt);   // not hex
  EXPECT_EQ(PercentDecodeCanonical(""), std::string());
}

}  // namespace
}  // namespace udmg
