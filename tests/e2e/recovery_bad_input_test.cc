// Bad input to passphrase-backup, passphrase-restore and prune-keys: exactly one line on stderr,
// the documented exit code, no key or passphrase in any output, the database dump unchanged and
// no file left where none was asked for (docs/security.md). On every backend.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr char kPassphrase[] = "a long enough backup passphrase";

class RecoveryBadInputTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitDemo(server_, 5));
    keys_.push_back(server_.root_key());
    ASSERT_TRUE(WriteFile(passphrase_file_, std::string(kPassphrase) + "\n"));
  }

  // A good backup of this database, made once per test that needs one.
  void MakeBackup() {
    RunOk(server_, {"passphrase-backup", "--output", backup_.string(), "--passphrase-file",
                    passphrase_file_.string()});
  }

  ProcessResult ExpectRefused(std::vector<std::string> args, int code) {
    std::string shown = "udmg-server";
    for (const std::string& arg : args) shown += " " + arg;
    const std::string before = server_.Dump();
    ProcessResult result = server_.Run(std::move(args));
    ExpectOneErrorLine(result, code);
    ExpectNoKeyIn(result, keys_);
    EXPECT_FALSE(Contains(result.stdout_data + result.stderr_data, kPassphrase));
    ExpectDumpUnchanged(server_, before, shown);
    return result;
  }

  std::vector<std::string> keys_;
  std::filesystem::path passphrase_file_ = dir_.path() / "passphrase";
  std::filesystem::path backup_ = dir_.path() / "keys.udmgbackup";
  std::filesystem::path output_ = dir_.path() / "new.udmgbackup";
};

TEST_P(RecoveryBadInputTest, MissingOutputOrInputIsAUsageError) {
  ExpectRefused({"passphrase-backup", "--passphrase-file", passphrase_file_.string()},
                kExitUsage);
  ExpectRefused({"passphrase-restore", "--passphrase-file", passphrase_file_.string()},
                kExitUsage);
}

TEST_P(RecoveryBadInputTest, MissingInputFileIsNotFound) {
  ProcessResult result =
      ExpectRefused({"passphrase-restore", "--input", (dir_.path() / "nowhere").string(),
                     "--passphrase-file", passphrase_file_.string()},
                    kExitNotFound);
  EXPECT_TRUE(Contains(result.stderr_data, "nowhere")) << result.Describe();
}

TEST_P(RecoveryBadInputTest, ShortPassphraseIsRefusedAndNoFileWritten) {
  ASSERT_TRUE(WriteFile(passphrase_file_, "eleven char\n"));  // 11 characters
  ProcessResult result = ExpectRefused({"passphrase-backup", "--output", output_.string(),
                                        "--passphrase-file", passphrase_file_.string()},
                                       kExitBadInput);
  EXPECT_TRUE(Contains(result.stderr_data, "12")) << result.Describe();
  server_.set_env("UDMG_BACKUP_PASSPHRASE", "short");
  ExpectRefused({"passphrase-backup", "--output", output_.string()}, kExitBadInput);
  EXPECT_FALSE(std::filesystem::exists(output_));
}

TEST_P(RecoveryBadInputTest, NoPassphraseSourceWithoutATerminalNamesTheThreeWays) {
  // The runner gives the child a stdin that is not a terminal and no UDMG_BACKUP_PASSPHRASE.
  ProcessResult result =
      ExpectRefused({"passphrase-backup", "--output", output_.string()}, kExitBadInput);
  for (const char* way : {"--passphrase-file", "UDMG_BACKUP_PASSPHRASE", "terminal"}) {
    EXPECT_TRUE(Contains(result.stderr_data, way)) << way << ": " << result.Describe();
  }
  EXPECT_FALSE(std::filesystem::exists(output_));
}

TEST_P(RecoveryBadInputTest, PassphraseFileReadableByOthersIsRefused) {
  MakeBackup();
  ASSERT_TRUE(WriteFile(passphrase_file_, std::string(kPassphrase) + "\n",
                        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                            std::filesystem::perms::group_read |
                            std::filesystem::perms::others_read));
  ProcessResult backup = ExpectRefused({"passphrase-backup", "--output", output_.string(),
                                        "--passphrase-file", passphrase_file_.string()},
                                       kExitBadInput);
  EXPECT_TRUE(Contains(backup.stderr_data, "chmod 600")) << backup.Describe();
  ExpectRefused({"passphrase-restore", "--input", backup_.string(), "--passphrase-file",
                 passphrase_file_.string()},
                kExitBadInput);
  EXPECT_FALSE(std::filesystem::exists(output_));
}

TEST_P(RecoveryBadInputTest, FileThatIsNotABackupIsRefused) {
  const std::filesystem::path text = dir_.path() / "notes.txt";
  ASSERT_TRUE(WriteFile(text, "these are not the keys you are looking for\n"));
  ProcessResult result = ExpectRefused({"passphrase-restore", "--input", text.string(),
                                        "--passphrase-file", passphrase_file_.string()},
                                       kExitBadInput);
  EXPECT_TRUE(Contains(result.stderr_data, "not a udmg-server backup")) << result.Describe();
  const std::filesystem::path empty = dir_.path() / "empty";
  ASSERT_TRUE(WriteFile(empty, ""));
  ExpectRefused({"passphrase-restore", "--input", empty.string(), "--passphrase-file",
                 passphrase_file_.string()},
                kExitBadInput);
  ExpectRefused({"passphrase-restore", "--input", dir_.path().string(), "--passphrase-file",
                 passphrase_file_.string()},
                kExitBadInput);
}

TEST_P(RecoveryBadInputTest, ExistingKeyFileIsRefusedAndKeptIntact) {
  MakeBackup();
  const std::filesystem::path key_file = dir_.path() / "root.key";
  ASSERT_TRUE(WriteFile(key_file, "keep me\n"));
  ProcessResult result =
      ExpectRefused({"passphrase-restore", "--input", backup_.string(), "--passphrase-file",
                     passphrase_file_.string(), "--write-key-file", key_file.string()},
                    kExitBadInput);
  EXPECT_TRUE(Contains(result.stderr_data, "--force")) << result.Describe();
  EXPECT_EQ(ReadFile(key_file), "keep me\n");
}

TEST_P(RecoveryBadInputTest, BackupNeedsTheCurrentRootKey) {
  server_.clear_root_key();
  ExpectRefused({"passphrase-backup", "--output", output_.string(), "--passphrase-file",
                 passphrase_file_.string()},
                kExitBadKey);
  server_.set_root_key(RandomKeyHex());
  keys_.push_back(server_.root_key());
  ExpectRefused({"passphrase-backup", "--output", output_.string(), "--passphrase-file",
                 passphrase_file_.string()},
                kExitWrongKey);
  ExpectRefused({"prune-keys"}, kExitWrongKey);
  EXPECT_FALSE(std::filesystem::exists(output_));
}

TEST_P(RecoveryBadInputTest, OutputInAMissingDirectoryIsRefused) {
  const std::filesystem::path output = dir_.path() / "no-such-dir" / "keys.udmgbackup";
  ProcessResult result = ExpectRefused({"passphrase-backup", "--output", output.string(),
                                        "--passphrase-file", passphrase_file_.string()},
                                       kExitBadInput);
  EXPECT_TRUE(Contains(result.stderr_data, "no-such-dir")) << result.Describe();
}

TEST_P(RecoveryBadInputTest, PruneOfAnUnknownVersionIsNotFound) {
  ExpectRefused({"prune-keys", "--version", "9"}, kExitNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecoveryBadInputTest,
                         ::testing::ValuesIn(db::testing::AllBackends()),
                         db::testing::BackendName);

}  // namespace
}  // namespace udmg::testing
