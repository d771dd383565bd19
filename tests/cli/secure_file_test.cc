// cli/secure_file: 0600, atomic, never over an existing file unasked, bounded reads.
#include "cli/secure_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace udmg::cli {
namespace {

using ::udmg::testing::TempDir;

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

unsigned Mode(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

size_t EntryCount(const std::filesystem::path& dir) {
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++count;
  }
  return count;
}

// Sets a permissive umask for one test, so 0600 must come from the code, not the environment.
class PermissiveUmask {
 public:
  PermissiveUmask() : saved_(::umask(0)) {}
  ~PermissiveUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

TEST(SecureFileTest, WritesTheBytesWithModeSixHundredAndNoTempLeft) {
  TempDir dir("udmg-cli-test.");
  PermissiveUmask umask;
  const auto path = dir.path() / "backup";
  const std::string content("content\0\xff", 9);  // binary, as a backup is
  ASSERT_TRUE(WriteFileAtomically(path.string(), Bytes(content), false).ok());
  EXPECT_EQ(Read(path), content);
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(EntryCount(dir.path()), 1u);
}

TEST(SecureFileTest, RefusesAnExistingFileWithoutForceAndKeepsIt) {
  TempDir dir("udmg-cli-test.");
  const auto path = dir.path() / "backup";
  ASSERT_TRUE(WriteFileAtomically(path.string(), Bytes("first"), false).ok());
  Status again = WriteFileAtomically(path.string(), Bytes("second"), false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), ErrorCode::kBadInput);
  EXPECT_EQ(again.message(), path.string() + " exists: pass --force to replace it");
  EXPECT_EQ(Read(path), "first");
  EXPECT_EQ(EntryCount(dir.path()), 1u);
  EXPECT_EQ(CheckCanCreate(path.string(), false).code(), ErrorCode::kBadInput);
  EXPECT_TRUE(CheckCanCreate(path.string(), true).ok());
}

TEST(SecureFileTest, ForceReplacesAndMakesTheModeSixHundred) {
  TempDir dir("udmg-cli-test.");
  const auto path = dir.path() / "backup";
  std::ofstream(path) << "old";
  std::filesystem::permissions(path, std::filesystem::perms::all);
  ASSERT_TRUE(WriteFileAtomically(path.string(), Bytes("new"), true).ok());
  EXPECT_EQ(Read(path), "new");
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(EntryCount(dir.path()), 1u);
}

TEST(SecureFileTest, ADanglingSymlinkCountsAsExisting) {
  TempDir dir("udmg-cli-test.");
  const auto link = dir.path() / "link";
  std::filesystem::create_symlink(dir.path() / "elsewhere", link);
  EXPECT_EQ(WriteFileAtomically(link.string(), Bytes("x"), false).code(), ErrorCode::kBadInput);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "elsewhere"));
}

TEST(SecureFileTest, AMissingDirectoryIsBadInputNamingIt) {
  TempDir dir("udmg-cli-test.");
  const auto path = dir.path() / "missing" / "backup";
  Status status = WriteFileAtomically(path.string(), Bytes("x"), false);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kBadInput);
  EXPECT_NE(status.message().find("missing"), std::string::npos) << status.message();
}

TEST(SecureFileTest, AFileInTheWorkingDirectoryNeedsNoDirectoryPart) {
  TempDir dir("udmg-cli-test.");
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Status status = WriteFileAtomically("plain-name", Bytes("x"), false);
  std::filesystem::current_path(previous);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(Read(dir.path() / "plain-name"), "x");
}

TEST(SecureFileTest, ReadsBoundedAndTellsMissingFromTooLarge) {
  TempDir dir("udmg-cli-test.");
  const auto path = dir.path() / "file";
  std::ofstream(path) << "12345";
  auto read = ReadFileBounded(path.string(), 5, "--input file");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, Bytes("12345"));

  auto too_large = ReadFileBounded(path.string(), 4, "--input file");
  ASSERT_FALSE(too_large.ok());
  EXPECT_EQ(too_large.error().code, ErrorCode::kBadInput);

  auto missing = ReadFileBounded((dir.path() / "none").string(), 5, "--input none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("--input none"), std::string::npos);

  auto directory = ReadFileBounded(dir.path().string(), 5, "--input dir");
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().code, ErrorCode::kBadInput);
}

}  // namespace
}  // namespace udmg::cli
