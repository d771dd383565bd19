// TempDir: a fresh directory under the system temp dir, gone afterwards with everything in it,
// even after a test took the owner's permissions away.
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDirTest, IsAFreshDirectoryUnderTheTempDirWithThePrefix) {
  TempDir a("udmg-td-");
  TempDir b("udmg-td-");
  ASSERT_TRUE(fs::is_directory(a.path()));
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(a.path().parent_path(), fs::temp_directory_path());
  EXPECT_EQ(a.path().filename().string().rfind("udmg-td-", 0), 0u) << a.path();
  EXPECT_TRUE(fs::is_empty(a.path()));
  EXPECT_EQ(a.File("x.db"), (a.path() / "x.db").string());
}

TEST(TempDirTest, RemovesItselfWithItsContent) {
  fs::path path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_TRUE(fs::is_directory(path));
    fs::create_directory(path / "sub");
    std::ofstream(dir.File("sub/file")) << "x";
    ASSERT_TRUE(fs::exists(path / "sub" / "file"));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(TempDirTest, RemovesItselfAfterItWasMadeReadOnly) {
  fs::path path;
  {
    TempDir dir;
    path = dir.path();
    std::ofstream(dir.File("file")) << "x";
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_exec);
  }
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace udmg::testing
