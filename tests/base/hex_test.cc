#include "base/hex.h"

#include <gtest/gtest.h>

#include <string>

#include "base/quoted_input.h"

namespace udmg {
namespace {

TEST(HexTest, AppendsTwoDigitsInEitherCase) {
  std::string out;
  hex::AppendByte(out, 0x0a);
  hex::AppendByte(out, 0xfe, hex::Case::kUpper);
  EXPECT_EQ(out, "0aFE");
}

TEST(HexTest, DigitValueReadsBothCasesAndRefusesTheRest) {
  EXPECT_EQ(hex::DigitValue('0'), 0);
  EXPECT_EQ(hex::DigitValue('9'), 9);
  EXPECT_EQ(hex::DigitValue('a'), 10);
  EXPECT_EQ(hex::DigitValue('F'), 15);
  for (const char c : {'g', 'G', ' ', '/', ':', '@', '`', '\0'}) EXPECT_EQ(hex::DigitValue(c), -1);
}

TEST(QuotedInputTest, QuotesAndEscapesEveryByteOutsidePrintableAscii) {
  EXPECT_EQ(QuotedInput("plain"), "'plain'");
  EXPECT_EQ(QuotedInput("a\nb\x1b\x7f\xc3"), "'a\\x0ab\\x1b\\x7f\\xc3'");
}

TEST(QuotedInputTest, CutsAfterSixtyFourCharacters) {
  EXPECT_EQ(QuotedInput(std::string(64, 'x')), "'" + std::string(64, 'x') + "'");
  EXPECT_EQ(QuotedInput(std::string(65, 'x')), "'" + std::string(64, 'x') + "...'");
}

}  // namespace
}  // namespace udmg
