// The CLI's input parsers: --max-duration, TABLE.COLUMN, and the new-key sources of rotate-k0.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/column_name.h"
#include "cli/duration.h"
#include "cli/key_input.h"
#include "engine/encoding.h"
#include "tests/support/temp_dir.h"

namespace udmg::cli {
namespace {

using std::chrono::seconds;

TEST(DurationTest, AcceptsUnitsInOrderAndPlainSeconds) {
  EXPECT_EQ(*ParseDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseDuration("5m"), seconds(300));
  EXPECT_EQ(*ParseDuration("1h"), seconds(3600));
  EXPECT_EQ(*ParseDuration("1h30m"), seconds(5400));
  EXPECT_EQ(*ParseDuration("2h5m10s"), seconds(7510));
  EXPECT_EQ(*ParseDuration("90d"), seconds(90 * 86400));
  EXPECT_EQ(*ParseDuration("1d12h"), seconds(86400 + 12 * 3600));
  EXPECT_EQ(*ParseDuration("300"), seconds(300));
  EXPECT_EQ(*ParseDuration("0"), seconds(0));
}

TEST(DurationTest, RefusesEverythingElseAsBadInput) {
  for (const char* text : {"", "s", "5x", "1m1h", "1h1h", "1h30", "-5s", "1.5h", " 5m", "5m ",
                           "99999999999999999999s", "1h1d", "3651d"}) {
    auto parsed = ParseDuration(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kBadInput) << text;
    EXPECT_NE(parsed.error().message.find("1h30m"), std::string::npos) << "names the forms";
  }
}

// Found by fuzz/duration_fuzzer: the message echoed the argument raw, so a carriage return or a
// newline in it broke the one-line rule.
TEST(DurationTest, MessageIsOneLineWhateverTheArgumentHolds) {
  auto parsed = ParseDuration(std::string_view("130mp\r\n\0", 8));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message.find_first_of("\r\n"), std::string::npos);
  EXPECT_NE(parsed.error().message.find("'130mp\\x0d\\x0a\\x00'"), std::string::npos)
      << parsed.error().message;
}

TEST(ColumnNameTest, SplitsTwoIdentifiers) {
  auto name = ParseColumnName("credentials.secret");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->table, "credentials");
  EXPECT_EQ(name->column, "secret");
  EXPECT_TRUE(ParseColumnName("_t1.c_2").ok());
}

TEST(ColumnNameTest, RefusesMalformedNames) {
  for (const char* text : {"", "credentials", ".secret", "credentials.", "a.b.c", "1t.c",
                           "t.c-d", "t.\"c\"", "t .c", "t.c;drop"}) {
    auto name = ParseColumnName(text);
    ASSERT_FALSE(name.ok()) << text;
    EXPECT_EQ(name.error().code, ErrorCode::kBadInput) << text;
  }
}

// Found by fuzz/column_name_fuzzer (input "a.b\n..."): the message echoed the argument raw.
TEST(ColumnNameTest, MessageIsOneLineAndBounded) {
  auto name = ParseColumnName("a.b\nc");
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().message.find('\n'), std::string::npos) << name.error().message;
  EXPECT_NE(name.error().message.find("'a.b\\x0ac'"), std::string::npos) << name.error().message;
  auto long_name = ParseColumnName(std::string(1000, 'x'));
  ASSERT_FALSE(long_name.ok());
  EXPECT_LT(long_name.error().message.size(), 200u);
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    key_hex_ = HexEncode(RandomSecret(32));
  }

  std::string Write(const std::string& content, mode_t mode) {
    std::string path = dir_.File("k0.key");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  ::udmg::testing::TempDir dir_{"udmg-keyfile-"};
  std::string key_hex_;
};

TEST_F(KeyFileTest, ReadsAPrivateFileWithSurroundingWhitespace) {
  auto key = NewKeyFromFile(Write("  " + key_hex_ + "\n", 0600));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(HexEncode(*key), key_hex_);
}

TEST_F(KeyFileTest, RefusesFilesOthersCanAccess) {
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    std::string path = Write(key_hex_, mode);
    auto key = NewKeyFromFile(path);
    ASSERT_FALSE(key.ok()) << std::oct << mode;
    EXPECT_EQ(key.error().code, ErrorCode::kBadKey);
    EXPECT_NE(key.error().message.find("chmod 600"), std::string::npos) << key.error().message;
    EXPECT_EQ(key.error().message.find(key_hex_), std::string::npos) << "never echoes the key";
  }
}

TEST_F(KeyFileTest, RefusesMissingOversizedAndMalformedFiles) {
  auto missing = NewKeyFromFile(dir_.File("absent.key"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kBadKey);
  // The option is named, not the text given: it may be the key itself.
  EXPECT_NE(missing.error().message.find("--new-key-file"), std::string::npos);
  EXPECT_EQ(missing.error().message.find("absent.key"), std::string::npos);

  auto oversized = NewKeyFromFile(Write(key_hex_ + std::string(kMaxKeyInputBytes, ' '), 0600));
  ASSERT_FALSE(oversized.ok());
  EXPECT_EQ(oversized.error().code, ErrorCode::kBadKey);

  auto malformed = NewKeyFromFile(Write(key_hex_.substr(0, 63) + "g", 0600));
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code, ErrorCode::kBadKey);
  EXPECT_EQ(malformed.error().message.find(key_hex_.substr(0, 63)), std::string::npos);

  auto directory = NewKeyFromFile(dir_.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().code, ErrorCode::kBadKey);
}

TEST_F(KeyFileTest, ArgumentIsParsedAsHex) {
  auto key = NewKeyFromArgument(key_hex_);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(HexEncode(*key), key_hex_);
  auto short_key = NewKeyFromArgument("abcd");
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.error().code, ErrorCode::kBadKey);
}

}  // namespace
}  // namespace udmg::cli
