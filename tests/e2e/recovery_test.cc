// Disaster recovery end to end on the binary, on every backend: passphrase-backup,
// passphrase-restore and prune-keys in the scenarios of docs/disaster-recovery.md. The backups use
// the default scrypt cost, so each test keeps its backup/restore invocations few.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

constexpr int kRows = 20;
// docs/exit-codes.md, restated here: the tests check the documented contract.
constexpr int kExitBadPassphrase = 12;
constexpr char kPassphrase[] = "a long enough backup passphrase";

std::map<int, std::string> MasterStates(const json& status) {
  std::map<int, std::string> masters;
  for (const json& master : status["master_keys"]) masters[master["version"]] = master["state"];
  return masters;
}

unsigned FileMode(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0xffff;
  return info.st_mode & 07777;
}

class RecoveryTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFile(passphrase_file_, std::string(kPassphrase) + "\n"));
  }

  ProcessResult Backup(const UdmgServer& server, const std::filesystem::path& output,
                       std::vector<std::string> extra = {}) {
    return RunWithPassphrase(server, {"passphrase-backup", "--output", output.string()}, extra);
  }

  ProcessResult Restore(const UdmgServer& server, const std::filesystem::path& input,
                        std::vector<std::string> extra = {}) {
    return RunWithPassphrase(server, {"passphrase-restore", "--input", input.string()}, extra);
  }

  // `args --passphrase-file <the test's passphrase file> extra...`.
  ProcessResult RunWithPassphrase(const UdmgServer& server, std::vector<std::string> args,
                                  const std::vector<std::string>& extra) {
    args.insert(args.end(), {"--passphrase-file", passphrase_file_.string()});
    args.insert(args.end(), extra.begin(), extra.end());
    return server.Run(args);
  }

  // Runs a refused restore and expects the error shape, `code` and the database unchanged.
  ProcessResult ExpectRestoreRefused(const UdmgServer& server, const std::filesystem::path& input,
                                     int code, std::vector<std::string> extra = {}) {
    const std::string before = server.Dump();
    ProcessResult result = Restore(server, input, std::move(extra));
    ExpectOneErrorLine(result, code);
    ExpectDumpUnchanged(server, before, "a refused restore");
    return result;
  }

  std::filesystem::path passphrase_file_ = dir_.path() / "passphrase";
  std::filesystem::path backup_ = dir_.path() / "keys.udmgbackup";
};

// Scenario 1: the new root key of a rotation is lost; the pre-rotation backup brings the old one
// back as current, and every value reads again with the key file the restore wrote.
TEST_P(RecoveryTest, LostNewRootKeyIsRecoveredFromThePreRotationBackup) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  const std::string old_key = server_.root_key();
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", new_key});
  server_.clear_root_key();  // the new key is lost; no node has a usable one

  // Without --force the restore says what it would set aside, and changes nothing.
  ProcessResult refused = ExpectRestoreRefused(server_, backup_, kExitConflict);
  EXPECT_TRUE(Contains(refused.stderr_data, "--force")) << refused.Describe();
  // --verify-only shows the plan with --force, writes nothing, no key file either.
  const std::filesystem::path key_file = dir_.path() / "recovered.key";
  const std::string before = server_.Dump();
  ProcessResult verified =
      Restore(server_, backup_, {"--verify-only", "--force", "--write-key-file", key_file});
  EXPECT_TRUE(verified.Exited(kExitOk)) << verified.Describe();
  EXPECT_TRUE(Contains(verified.stdout_data, "a restore would")) << verified.Describe();
  ExpectDumpUnchanged(server_, before, "restore --verify-only");
  EXPECT_FALSE(std::filesystem::exists(key_file));

  ProcessResult restored = Restore(server_, backup_, {"--force", "--write-key-file", key_file});
  ASSERT_TRUE(restored.Exited(kExitOk)) << restored.Describe();
  ExpectNoKeyIn(restored, {old_key, new_key});
  EXPECT_TRUE(Contains(restored.stdout_data, FingerprintOf(old_key))) << restored.Describe();
  EXPECT_EQ(FileMode(key_file), 0600u);
  EXPECT_EQ(ReadFile(key_file), old_key + "\n");

  // The newer root version is set aside, recoverable.
  EXPECT_TRUE(Contains(server_.Exec("SELECT kind, version FROM udmg_replaced_keys;"), "root|2"));

  server_.set_root_key(ReadFile(key_file));  // surrounding whitespace is ignored
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["current_root_version"], 1);
  EXPECT_EQ((*status)["this_node"]["root_key"], "current");
  RunOk(server_, {"verify"});
  ExpectDemoValuesMigrated(server_, kRows);
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "3"}).stdout_data,
            "demo-secret-3");

  // The restore's audit entry, sealed by the root key it made current, names the backup's time.
  json entries = json::parse(RunOk(server_, {"audit", "list", "--json"}).stdout_data)["entries"];
  ASSERT_FALSE(entries.empty());
  const json& last = entries.back();
  EXPECT_EQ(last["event"], "restore") << last.dump();
  EXPECT_EQ(last["detail"].get<std::string>().rfind("from the backup taken ", 0), 0u)
      << last.dump();
  EXPECT_EQ(last["root_before"], 2) << last.dump();
  EXPECT_EQ(last["root_after"], 1) << last.dump();
  EXPECT_EQ(last["key_version"], 1) << last.dump();
  RunOk(server_, {"audit", "verify"});
}

// Scenario 2: an old backup restored after rotate-master-key --reencrypt loses nothing: master v2
// (not in the backup, every value on it) stays active.
TEST_P(RecoveryTest, OldBackupAfterReencryptKeepsTheNewerMasterVersion) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  RunOk(server_, {"rotate-master-key", "--reencrypt"});

  const std::string before = server_.Dump();
  ProcessResult restored = Restore(server_, backup_);
  ASSERT_TRUE(restored.Exited(kExitOk)) << restored.Describe();
  EXPECT_TRUE(Contains(restored.stdout_data, "nothing to restore")) << restored.Describe();
  ExpectDumpUnchanged(server_, before, "restoring a backup this database already holds");

  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(MasterStates(*status),
            (std::map<int, std::string>{{1, "decrypt_only"}, {2, "active"}}));
  RunOk(server_, {"verify"});
  ExpectDemoValuesMigrated(server_, kRows);
}

// Scenario 3: a wrong passphrase (from the file or the environment) is exit 12, nothing changes.
TEST_P(RecoveryTest, WrongPassphraseIsExitTwelveAndChangesNothing) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  ASSERT_TRUE(WriteFile(passphrase_file_, "not the passphrase at all\n"));
  ProcessResult result = ExpectRestoreRefused(server_, backup_, kExitBadPassphrase);
  EXPECT_TRUE(Contains(result.stderr_data, "passphrase")) << result.Describe();

  const std::string before = server_.Dump();
  server_.set_env("UDMG_BACKUP_PASSPHRASE", "another wrong passphrase");
  ProcessResult from_env =
      server_.Run({"passphrase-restore", "--input", backup_.string(), "--verify-only"});
  ExpectOneErrorLine(from_env, kExitBadPassphrase);
  ExpectDumpUnchanged(server_, before, "a wrong passphrase from the environment");
}

// Scenario 4: a sample of single bit flips over every region of the file and truncations, never a
// change. Each flip has the code docs/formats.md gives its region: 11 where the header check
// refuses it before scrypt (magic, format, kdf, length, a cost out of bounds), 12 where only the
// tag can tell (a cost still in bounds, salt, nonce, body). The engine test flips every bit.
TEST_P(RecoveryTest, DamagedOrTruncatedBackupIsRefusedWithoutChange) {
  ASSERT_TRUE(InitDemo(server_, 5));
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  const std::string good = ReadFile(backup_);
  ASSERT_GT(good.size(), 51u + 16u + 32u);
  const size_t size = good.size();
  const std::string before = server_.Dump();
  const std::filesystem::path damaged = dir_.path() / "damaged.udmgbackup";

  struct Flip {
    const char* region;
    size_t offset;
    int bit;
    int code;
  };
  // Sealed with log2 N = 17, r = 8, p = 1: log2 N 17 -> 16 and p 1 -> 3 stay in bounds, r's top
  // byte set does not.
  const std::vector<Flip> flips = {
      {"magic", 0, 0, kExitBadInput},
      {"format", 8, 1, kExitBadInput},
      {"kdf", 9, 0, kExitBadInput},
      {"log2_n in bounds", 10, 0, kExitBadPassphrase},
      {"r out of bounds", 11, 7, kExitBadInput},
      {"p in bounds", 18, 1, kExitBadPassphrase},
      {"salt", 27, 4, kExitBadPassphrase},
      {"nonce", 40, 6, kExitBadPassphrase},
      {"length", 50, 0, kExitBadInput},
      {"ciphertext start", 51, 3, kExitBadPassphrase},
      {"ciphertext middle", size / 2, 5, kExitBadPassphrase},
      {"tag", size - 1, 7, kExitBadPassphrase},
  };
  for (const Flip& flip : flips) {
    SCOPED_TRACE(flip.region);
    std::string bytes = good;
    bytes[flip.offset] = static_cast<char>(bytes[flip.offset] ^ (1 << flip.bit));
    ASSERT_TRUE(WriteFile(damaged, bytes));
    ExpectOneErrorLine(Restore(server_, damaged), flip.code);
  }
  for (size_t length : {size_t{0}, size_t{7}, size_t{8}, size_t{50}, size_t{51}, size / 2,
                        size - 16, size - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(length));
    ASSERT_TRUE(WriteFile(damaged, good.substr(0, length)));
    ExpectOneErrorLine(Restore(server_, damaged), kExitBadInput);
  }
  ASSERT_TRUE(WriteFile(damaged, good + "x"));
  ExpectOneErrorLine(Restore(server_, damaged), kExitBadInput);
  ExpectDumpUnchanged(server_, before, "restores of damaged backups");
}

// Scenario 5: a backup of another database is refused, with --force too.
TEST_P(RecoveryTest, BackupOfAnotherDatabaseIsRefused) {
  ASSERT_TRUE(InitDemo(server_, 5));
  TempDir other_dir;
  UdmgServer other(other_dir.path());
  ASSERT_TRUE(InitDemo(other, 5));
  ASSERT_TRUE(Backup(other, backup_).Exited(kExitOk));
  ProcessResult result = ExpectRestoreRefused(server_, backup_, kExitConflict);
  EXPECT_TRUE(Contains(result.stderr_data, "another database")) << result.Describe();
  ExpectRestoreRefused(server_, backup_, kExitConflict, {"--force"});
}

// Scenario 6: no restore and no pruning while a re-encryption job runs; --verify-only still works.
TEST_P(RecoveryTest, RestoreAndPruneAreRefusedWhileAJobRuns) {
  ASSERT_TRUE(InitDemo(server_, 5));
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  RunOk(server_, {"rotate-master-key", "--reencrypt"});
  // The job of that rotation, as a process that is still at work would have left it.
  server_.Exec("UPDATE udmg_jobs SET state = 'running';");
  ProcessResult result = ExpectRestoreRefused(server_, backup_, kExitConflict, {"--force"});
  EXPECT_TRUE(Contains(result.stderr_data, "job")) << result.Describe();

  const std::string before = server_.Dump();
  ProcessResult pruned = server_.Run({"prune-keys"});
  ExpectOneErrorLine(pruned, kExitConflict);
  EXPECT_TRUE(Contains(pruned.stderr_data, "job")) << pruned.Describe();
  ExpectDumpUnchanged(server_, before, "prune-keys while a job runs");

  ProcessResult verified = Restore(server_, backup_, {"--verify-only"});
  EXPECT_TRUE(verified.Exited(kExitOk)) << verified.Describe();
  ExpectDumpUnchanged(server_, before, "restore --verify-only while a job runs");
}

// Scenario 6b: the job's process died (kill -9) and K0 is lost, so the job cannot be resumed:
// `--mark-stopped`, which needs no key, releases it; the restore then runs and the job resumes.
TEST_P(RecoveryTest, AJobWhoseProcessDiedIsReleasedWithoutAKeyThenRestoreRuns) {
  ASSERT_TRUE(InitDemo(server_, 5));
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));
  RunOk(server_, {"rotate-master-key", "--reencrypt"});
  server_.Exec("UPDATE udmg_jobs SET state = 'running';");  // what kill -9 leaves behind
  ProcessResult refused = ExpectRestoreRefused(server_, backup_, kExitConflict);
  EXPECT_TRUE(Contains(refused.stderr_data, "`udmg-server reencrypt` with --mark-stopped releases it"))
      << refused.Describe();

  const std::string key = server_.root_key();
  server_.clear_root_key();
  ProcessResult released = server_.Run({"reencrypt", "--mark-stopped"});
  EXPECT_TRUE(released.Exited(kExitOk)) << released.Describe();
  EXPECT_TRUE(Contains(released.stdout_data, "marked stopped")) << released.Describe();
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_jobs WHERE state = 'running';"), "0\n");

  // Nothing left to release: exit 6 and not a byte written.
  const std::string before = server_.Dump();
  ProcessResult again = server_.Run({"reencrypt", "--mark-stopped"});
  ExpectOneErrorLine(again, kExitNotFound);
  ExpectDumpUnchanged(server_, before, "--mark-stopped with no running job");
  ProcessResult sweep = server_.Run({"sweep", "--mark-stopped"});
  ExpectOneErrorLine(sweep, kExitNotFound);
  ExpectDumpUnchanged(server_, before, "sweep --mark-stopped with no running sweep");

  server_.set_root_key(key);
  ProcessResult restored = Restore(server_, backup_);
  EXPECT_TRUE(restored.Exited(kExitOk)) << restored.Describe();
  RunOk(server_, {"reencrypt"});  // resumes the released job and ends it
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_jobs WHERE state <> 'done';"), "0\n");
  RunOk(server_, {"verify"});
}

// Scenario 7: --verify-only on a matching file: exit 0, and not a byte written.
TEST_P(RecoveryTest, VerifyOnlyOnAMatchingBackupWritesNothing) {
  ASSERT_TRUE(InitDemo(server_, 5));
  ProcessResult backup = Backup(server_, backup_, {"--json"});
  ASSERT_TRUE(backup.Exited(kExitOk)) << backup.Describe();
  json summary = json::parse(backup.stdout_data, nullptr, false);
  ASSERT_FALSE(summary.is_discarded()) << backup.stdout_data;
  EXPECT_EQ(summary["root_fingerprint"], FingerprintOf(server_.root_key()));
  EXPECT_EQ(summary["root_version"], 1);

  const std::string before = server_.Dump();
  ProcessResult verified = Restore(server_, backup_, {"--verify-only", "--json"});
  ASSERT_TRUE(verified.Exited(kExitOk)) << verified.Describe();
  json report = json::parse(verified.stdout_data, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << verified.stdout_data;
  EXPECT_EQ(report["changes_nothing"], true);
  EXPECT_EQ(report["root_fingerprint"], FingerprintOf(server_.root_key()));
  ExpectDumpUnchanged(server_, before, "restore --verify-only");
  ExpectNoKeyIn(verified, {server_.root_key()});
}

// Scenario 8: the backup is 0600, an existing file is kept intact without --force, replaced with
// it; no temp file is left behind; the database records each backup taken.
TEST_P(RecoveryTest, BackupFileIsPrivateAndNeverOverwrittenUnasked) {
  ASSERT_TRUE(InitDemo(server_, 5));
  ProcessResult first = Backup(server_, backup_);
  ASSERT_TRUE(first.Exited(kExitOk)) << first.Describe();
  ExpectNoKeyIn(first, {server_.root_key()});
  EXPECT_FALSE(Contains(first.stdout_data + first.stderr_data, kPassphrase));
  EXPECT_EQ(FileMode(backup_), 0600u);
  const std::string original = ReadFile(backup_);
  EXPECT_EQ(original.substr(0, 8), "UDMGBKUP");
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_backups;"), "1\n");

  ProcessResult again = Backup(server_, backup_);
  ExpectOneErrorLine(again, kExitBadInput);
  EXPECT_TRUE(Contains(again.stderr_data, "--force")) << again.Describe();
  EXPECT_EQ(ReadFile(backup_), original);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_backups;"), "1\n");

  ASSERT_TRUE(Backup(server_, backup_, {"--force"}).Exited(kExitOk));
  EXPECT_NE(ReadFile(backup_), original) << "a new backup has a new salt and nonce";
  EXPECT_EQ(FileMode(backup_), 0600u);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_backups;"), "2\n");
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
        << "temp file left behind: " << entry.path();
  }
}

// Scenario 9: a restore into a database that never ran init brings the keyring back; the values
// copied from the old database then read with the key file the restore wrote.
TEST_P(RecoveryTest, RestoreIntoAnEmptyDatabaseBringsTheKeyringBack) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  const std::string key = server_.root_key();
  ASSERT_TRUE(Backup(server_, backup_).Exited(kExitOk));

  TempDir fresh_dir;
  UdmgServer fresh(fresh_dir.path());
  const std::filesystem::path key_file = fresh_dir.path() / "root.key";
  ProcessResult restored = Restore(fresh, backup_, {"--write-key-file", key_file});
  ASSERT_TRUE(restored.Exited(kExitOk)) << restored.Describe();
  EXPECT_EQ(ReadFile(key_file), key + "\n");

  // The application's table comes back from its own backup: here, copied row by row.
  fresh.Exec("CREATE TABLE credentials (id INTEGER PRIMARY KEY, name TEXT, secret TEXT);");
  std::string inserts;
  std::istringstream rows(server_.Exec("SELECT id, name, secret FROM credentials ORDER BY id;"));
  for (std::string row; std::getline(rows, row);) {
    const size_t first = row.find('|'), second = row.find('|', first + 1);
    inserts += "INSERT INTO credentials (id, name, secret) VALUES (" + row.substr(0, first) +
               ", '" + row.substr(first + 1, second - first - 1) + "', '" +
               row.substr(second + 1) + "');\n";
  }
  fresh.Exec(inserts);
  fresh.set_root_key(ReadFile(key_file));
  RunOk(fresh, {"columns", "add", "credentials.secret"});
  RunOk(fresh, {"verify"});
  ExpectDemoValuesMigrated(fresh, kRows);
  auto status = StatusJson(fresh);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["root_keys"][0]["fingerprint"], FingerprintOf(key));

  // It is the same keyring: the backup now matches the new database.
  ProcessResult verified = Restore(fresh, backup_, {"--verify-only"});
  EXPECT_TRUE(verified.Exited(kExitOk)) << verified.Describe();
  EXPECT_TRUE(Contains(verified.stdout_data, "nothing to restore")) << verified.Describe();
}

// Scenario 10: prune-keys refuses while values use the old master version (naming the column and
// count), --dry-run writes nothing, and after the re-encryption version 1 is retired.
TEST_P(RecoveryTest, PruneRetiresOnlyVersionsNoValueUses) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  RunOk(server_, {"rotate-master-key"});
  std::string before = server_.Dump();
  ProcessResult refused = server_.Run({"prune-keys"});
  ExpectOneErrorLine(refused, kExitConflict);
  EXPECT_TRUE(Contains(refused.stderr_data, "credentials.secret")) << refused.Describe();
  EXPECT_TRUE(Contains(refused.stderr_data, std::to_string(kRows) + " values"))
      << refused.Describe();
  ExpectDumpUnchanged(server_, before, "a refused prune-keys");
  ExpectOneErrorLine(server_.Run({"prune-keys", "--version", "2"}), kExitConflict);  // active
  ExpectDumpUnchanged(server_, before, "prune-keys --version <active>");

  RunOk(server_, {"reencrypt"});
  before = server_.Dump();
  ProcessResult dry = RunOk(server_, {"prune-keys", "--dry-run"});
  EXPECT_TRUE(Contains(dry.stdout_data, "would retire master version 1")) << dry.Describe();
  ExpectDumpUnchanged(server_, before, "prune-keys --dry-run");

  ProcessResult pruned = RunOk(server_, {"prune-keys", "--json"});
  json report = json::parse(pruned.stdout_data, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << pruned.stdout_data;
  EXPECT_EQ(report["retired"], json::array({1}));
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(MasterStates(*status), (std::map<int, std::string>{{1, "retired"}, {2, "active"}}));
  RunOk(server_, {"verify"});
  EXPECT_TRUE(Contains(RunOk(server_, {"prune-keys"}).stdout_data, "nothing to prune"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RecoveryTest,
                         ::testing::ValuesIn(db::testing::AllBackends()),
                         db::testing::BackendName);

}  // namespace
}  // namespace udmg::testing
