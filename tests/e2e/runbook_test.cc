// The operator runbook, end to end on the binary: init, demo, rotate K0, rotate the master key,
// gradual migration by read and by sweep, verify, and every plaintext unchanged at the end.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 200;

using nlohmann::json;

// The root versions of a status document as {version: current?}.
std::map<int, bool> RootVersions(const json& status) {
  std::map<int, bool> roots;
  for (const json& root : status["root_keys"]) roots[root["version"]] = root["current"];
  return roots;
}

std::map<int, std::string> MasterStates(const json& status) {
  std::map<int, std::string> masters;
  for (const json& master : status["master_keys"]) masters[master["version"]] = master["state"];
  return masters;
}

// Each test runs on every backend (SQLite file, PostgreSQL schema): UdmgServer picks the database.
class RunbookTest : public ServerTest {};

TEST_P(RunbookTest, RotateK0ThenMasterKeyMigratesGraduallyWithoutLosingAValue) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  const std::string old_key = server_.root_key();

  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["initialized"], true);
  EXPECT_EQ(RootVersions(*status), (std::map<int, bool>{{1, true}}));
  EXPECT_EQ(MasterStates(*status), (std::map<int, std::string>{{1, "active"}}));
  EXPECT_EQ((*status)["this_node"]["root_key"], "current");
  EXPECT_EQ((*status)["root_keys"][0]["fingerprint"], FingerprintOf(old_key));
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"), (std::map<int, int>{{1, kRows}}));

  // rotate-k0: a new root version; the operator is told its version and fingerprint.
  const std::string new_key = RandomKeyHex();
  ProcessResult rotated = RunOk(server_, {"rotate-k0", "--new-key", new_key});
  EXPECT_NE(rotated.stdout_data.find(FingerprintOf(new_key)), std::string::npos)
      << "rotate-k0 must print the new fingerprint: " << rotated.Describe();
  EXPECT_NE(rotated.stdout_data.find("UDMG_SECURITY_PASSPHRASE_KEY"), std::string::npos)
      << "rotate-k0 must tell the operator to set the new key: " << rotated.Describe();
  ExpectNoKeyIn(rotated, {old_key, new_key});

  // This node still has the old key: status works and says so.
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(RootVersions(*status), (std::map<int, bool>{{1, false}, {2, true}}));
  EXPECT_EQ((*status)["current_root_version"], 2);
  EXPECT_EQ((*status)["this_node"]["root_key"], "older");
  EXPECT_EQ((*status)["this_node"]["version"], 1);

  // Export the new key, then the usual maintenance.
  server_.set_root_key(new_key);
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["this_node"]["root_key"], "current");
  EXPECT_EQ((*status)["this_node"]["version"], 2);
  EXPECT_EQ((*status)["this_node"]["fingerprint"], FingerprintOf(new_key));
  RunOk(server_, {"verify"});

  RunOk(server_, {"rotate-master-key"});
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(MasterStates(*status),
            (std::map<int, std::string>{{1, "decrypt_only"}, {2, "active"}}));
  EXPECT_EQ((*status)["active_master_version"], 2);
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"), (std::map<int, int>{{1, kRows}}))
      << "rotate-master-key without --reencrypt must not touch values";

  // Reading one stale value migrates it.
  ProcessResult read = RunOk(server_, {"secret", "get", "credentials.secret", "7"});
  EXPECT_EQ(read.stdout_data, "demo-secret-7");
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"),
            (std::map<int, int>{{1, kRows - 1}, {2, 1}}));
  EXPECT_EQ(server_.Exec("SELECT substr(secret, 1, 8) FROM credentials WHERE id = 7;"),
            "udmg:v2:\n");

  // A second read of a current value writes nothing.
  const std::string before_second_read = server_.Dump();
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "7"}).stdout_data,
            "demo-secret-7");
  ExpectDumpUnchanged(server_, before_second_read, "reading a current value");

  // sweep migrates the rest.
  RunOk(server_, {"sweep"});
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"), (std::map<int, int>{{2, kRows}}));
  RunOk(server_, {"verify"});

  // A second sweep has nothing to do and writes nothing.
  const std::string after_sweep = server_.Dump();
  RunOk(server_, {"sweep"});
  ExpectDumpUnchanged(server_, after_sweep, "a sweep with nothing to do");

  // Every plaintext unchanged, checked by an independent implementation, which also finds the
  // old K0 as the historical root version 1.
  auto inspected = InspectWithPython(server_, {old_key});
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows), (std::map<int, int>{{2, kRows}}));
  EXPECT_EQ((*inspected)["current_root_version"], 2);
  EXPECT_EQ((*inspected)["old_k0_versions"][FingerprintOf(old_key)], 1);
  // And through the binary, for a few rows.
  for (int id : {1, 100, kRows}) {
    EXPECT_EQ(
        RunOk(server_, {"secret", "get", "credentials.secret", std::to_string(id)}).stdout_data,
        "demo-secret-" + std::to_string(id));
  }
}

// The maintenance-window variant: --reencrypt migrates every value at once. (--reencrypt
// was once a usage error; the binary has it now.)
TEST_P(RunbookTest, RotationsWithReencryptMigrateEveryValueAtOnce) {
  ASSERT_TRUE(InitDemo(server_, 50));
  const std::string old_key = server_.root_key();

  ASSERT_TRUE(RunOk(server_, {"rotate-master-key", "--reencrypt"}).Exited(kExitOk));
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"), (std::map<int, int>{{2, 50}}));

  // rotate-k0 --reencrypt after a master rotation: the root changes and values move to v3.
  RunOk(server_, {"rotate-master-key"});
  const std::string new_key = RandomKeyHex();
  ASSERT_TRUE(RunOk(server_, {"rotate-k0", "--new-key", new_key, "--reencrypt"}).Exited(kExitOk));
  server_.set_root_key(new_key);
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["current_root_version"], 2);
  EXPECT_EQ(ValuesByVersion(*status, "credentials", "secret"), (std::map<int, int>{{3, 50}}));
  RunOk(server_, {"verify"});
  auto inspected = InspectWithPython(server_, {old_key});
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, 50), (std::map<int, int>{{3, 50}}));
}

// The new key from argv, from a file, or from stdin: the same rotation.
enum class KeySource { kArgument, kFile, kStdin };

class RotateK0SourceTest : public ::testing::TestWithParam<KeySource> {};

TEST_P(RotateK0SourceTest, RotatesWithTheNewKeyFromEachSource) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, 20));
  const std::string old_key = server.root_key();
  const std::string new_key = RandomKeyHex();

  ProcessResult rotated;
  switch (GetParam()) {
    case KeySource::kArgument:
      rotated = RunOk(server, {"rotate-k0", "--new-key", new_key});
      break;
    case KeySource::kFile: {
      // A key file as an operator writes it: with a trailing newline (whitespace is ignored).
      const auto key_file = dir.path() / "new.key";
      ASSERT_TRUE(WriteFile(key_file, new_key + "\n"));
      rotated = RunOk(server, {"rotate-k0", "--new-key-file", key_file.string()});
      break;
    }
    case KeySource::kStdin:
      rotated = RunOk(server, {"rotate-k0", "--new-key", "-"}, new_key + "\n");
      break;
  }
  ASSERT_TRUE(rotated.Exited(kExitOk));
  ExpectNoKeyIn(rotated, {old_key, new_key});

  server.set_root_key(new_key);
  auto status = StatusJson(server);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["current_root_version"], 2);
  EXPECT_EQ((*status)["this_node"]["root_key"], "current");
  EXPECT_EQ((*status)["this_node"]["fingerprint"], FingerprintOf(new_key));
  RunOk(server, {"verify"});
  auto inspected = InspectWithPython(server, {old_key});
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, 20), (std::map<int, int>{{1, 20}}));
}

INSTANTIATE_TEST_SUITE_P(AllSources, RotateK0SourceTest,
                         ::testing::Values(KeySource::kArgument, KeySource::kFile,
                                           KeySource::kStdin),
                         [](const auto& info) {
                           switch (info.param) {
                             case KeySource::kArgument: return "Argument";
                             case KeySource::kFile: return "File";
                             case KeySource::kStdin: return "Stdin";
                           }
                           return "Unknown";
                         });

TEST_P(RunbookTest, TwoK0RotationsKeepEveryOlderKeyAsHistory) {
  ASSERT_TRUE(InitDemo(server_, 10));
  const std::string first = server_.root_key();
  const std::string second = RandomKeyHex();
  const std::string third = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", second});
  server_.set_root_key(second);
  RunOk(server_, {"rotate-k0", "--new-key", third});
  server_.set_root_key(third);
  auto inspected = InspectWithPython(server_, {first, second});
  ASSERT_TRUE(inspected);
  EXPECT_EQ((*inspected)["current_root_version"], 3);
  EXPECT_EQ((*inspected)["old_k0_versions"][FingerprintOf(first)], 1);
  EXPECT_EQ((*inspected)["old_k0_versions"][FingerprintOf(second)], 2);
  ExpectDemoPlaintexts(*inspected, 10);
}

TEST_P(RunbookTest, SecretPutStoresExactBytesAndGetReturnsThem) {
  ASSERT_TRUE(InitDemo(server_, 3));
  for (const std::string& value :
       {std::string("  spaces and a newline\n"), std::string(""), std::string("x\0y\r\n", 5)}) {
    RunOk(server_, {"secret", "put", "credentials.secret", "2"}, value);
    EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "2"}).stdout_data, value);
  }
  EXPECT_EQ(server_.Exec("SELECT substr(secret, 1, 8) FROM credentials WHERE id = 2;"),
            "udmg:v1:\n");
}

TEST_P(RunbookTest, NullAndLegacyPlaintextValues) {
  ASSERT_TRUE(InitDemo(server_, 3));
  server_.Exec(
      "UPDATE credentials SET secret = NULL WHERE id = 1;"
      "UPDATE credentials SET secret = 'legacy-password' WHERE id = 2;");
  RunOk(server_, {"rotate-master-key"});
  const std::string before = server_.Dump();

  ProcessResult null_read = RunOk(server_, {"secret", "get", "credentials.secret", "1"});
  EXPECT_EQ(null_read.stdout_data, "");
  EXPECT_EQ(null_read.stderr_data,
            "udmg-server: note: credentials.secret id=1 is NULL: nothing printed\n");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "2"}).stdout_data,
            "legacy-password");
  ExpectDumpUnchanged(server_, before, "reading NULL and legacy plaintext");

  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  const json& column = (*status)["columns"][0];
  EXPECT_EQ(column["plaintext"], 1);
  EXPECT_EQ(column["null"], 1);
  EXPECT_EQ(column["malformed"], 0);
  RunOk(server_, {"verify"});

  RunOk(server_, {"sweep"});
  EXPECT_EQ(server_.Exec("SELECT id, substr(secret, 1, 8) FROM credentials ORDER BY id;"),
            "1|\n2|legacy-p\n3|udmg:v2:\n")
      << "sweep leaves NULL and plaintext alone";
  RunOk(server_, {"sweep", "--include-plaintext"});
  EXPECT_EQ(server_.Exec("SELECT id, substr(secret, 1, 8) FROM credentials ORDER BY id;"),
            "1|\n2|udmg:v2:\n3|udmg:v2:\n");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "2"}).stdout_data,
            "legacy-password");
}

// status never needs the key: a missing or malformed K0 is reported in its output, exit 0.
TEST_P(RunbookTest, StatusReportsAMissingOrMalformedRootKey) {
  ASSERT_TRUE(InitDemo(server_, 3));
  const std::string key = server_.root_key();
  server_.clear_root_key();
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["this_node"]["root_key"], "missing");
  ProcessResult text = RunOk(server_, {"status"});
  EXPECT_NE(text.stdout_data.find("this node's root key: not set (no UDMG_SECURITY_PASSPHRASE_KEY, "),
            std::string::npos)
      << text.Describe();
  server_.set_root_key(key.substr(0, 63));
  status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["this_node"]["root_key"], "malformed");
  text = RunOk(server_, {"status"});
  EXPECT_NE(text.stdout_data.find("this node's root key: malformed: UDMG_SECURITY_PASSPHRASE_KEY must "
                                  "be 64 hex characters (32 bytes); found 63 characters"),
            std::string::npos)
      << text.Describe();
  ExpectNoKeyIn(text, {key});
}

// Past 2^31 encryptions under a master version, every command that encrypts under it warns,
// on one line, and still exits 0.
TEST_P(RunbookTest, NonceBudgetWarnsPastTwoToTheThirtyOne) {
  ASSERT_TRUE(InitDemo(server_, 3));
  RunOk(server_, {"rotate-master-key"});
  ProcessResult quiet = RunOk(server_, {"secret", "put", "credentials.secret", "1"}, "below");
  EXPECT_EQ(quiet.stderr_data, "");
  server_.Exec("UPDATE udmg_key_usage SET encryptions = 2147483647 WHERE version = 2;");
  auto warning = [](const std::string& count) {
    return "udmg-server: warning: master key version 2 has made " + count +
           " encryptions, past 2^31 of its 2^32 random-nonce budget: run `udmg-server "
           "rotate-master-key` soon\n";
  };
  ProcessResult put = RunOk(server_, {"secret", "put", "credentials.secret", "1"}, "past");
  EXPECT_EQ(put.stderr_data, warning("2147483648"));
  ProcessResult sweep = RunOk(server_, {"sweep", "--batch-size", "1", "--max-rows", "1"});
  EXPECT_EQ(sweep.stderr_data, warning("2147483649"));
}

// Why a sweep ended is the word after the version: completed, max-rows, max-duration.
TEST_P(RunbookTest, SweepSaysWhyItEnded) {
  ASSERT_TRUE(InitDemo(server_, 6));
  RunOk(server_, {"rotate-master-key"});
  EXPECT_NE(RunOk(server_, {"sweep", "--max-rows", "2", "--batch-size", "1"})
                .stdout_data.find("sweep to master key version 2 max-rows: migrated 2, conflicts "
                                  "0, failed 0, remaining 4\n"),
            std::string::npos);
  EXPECT_NE(RunOk(server_, {"sweep", "--max-duration", "0"})
                .stdout_data.find("sweep to master key version 2 max-duration: migrated 0, "
                                  "conflicts 0, failed 0, remaining 4\n"),
            std::string::npos);
  EXPECT_NE(RunOk(server_, {"sweep"})
                .stdout_data.find(
                    "sweep to master key version 2 completed: migrated 4, conflicts 0, failed 0, "
                    "remaining 0\n"),
            std::string::npos);
}

// columns remove forgets the registration and touches no value; add brings it back.
TEST_P(RunbookTest, ColumnsRemoveUnregistersWithoutTouchingValues) {
  ASSERT_TRUE(InitDemo(server_, 3));
  const std::string values = server_.Exec("SELECT id, secret FROM credentials ORDER BY id;");
  RunOk(server_, {"columns", "remove", "credentials.secret"});
  EXPECT_EQ(RunOk(server_, {"columns", "list"}).stdout_data, "");
  EXPECT_EQ(server_.Exec("SELECT id, secret FROM credentials ORDER BY id;"), values);
  ExpectOneErrorLine(server_.Run({"secret", "get", "credentials.secret", "1"}), kExitNotFound);
  RunOk(server_, {"columns", "add", "credentials.secret"});
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "1"}).stdout_data,
            "demo-secret-1");
}

// A text row key (`alice`): put and get address the row by its text key.
TEST_P(RunbookTest, TextRowKeysForSecretGetAndPut) {
  ASSERT_TRUE(InitDemo(server_, 0));
  server_.Exec(
      "CREATE TABLE accounts (name TEXT PRIMARY KEY, token TEXT);"
      "INSERT INTO accounts (name, token) VALUES ('alice', NULL), ('007', NULL);");
  RunOk(server_, {"columns", "add", "accounts.token", "--key", "name"});
  RunOk(server_, {"secret", "put", "accounts.token", "alice"}, "alice's token");
  RunOk(server_, {"secret", "put", "accounts.token", "007"}, "bond's token");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "accounts.token", "alice"}).stdout_data,
            "alice's token");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "accounts.token", "007"}).stdout_data, "bond's token");
  EXPECT_EQ(server_.Exec("SELECT name, substr(token, 1, 8) FROM accounts ORDER BY name;"),
            "007|udmg:v1:\nalice|udmg:v1:\n");
  ExpectOneErrorLine(server_.Run({"secret", "get", "accounts.token", "bob"}), kExitNotFound);
}

// The database comes from --db (before or after the subcommand), else UDMG_DATABASE_URL, else
// sqlite:udmg.db in the working directory. SQLite only: it is about where the file goes.
TEST(RunbookSqliteTest, DatabaseLocationFollowsFlagThenEnvironmentThenDefault) {
  TempDir dir;
  const std::string key = RandomKeyHex();
  const auto run = [&](std::vector<std::string> args, std::map<std::string, std::string> env) {
    env["UDMG_SECURITY_PASSPHRASE_KEY"] = key;
    return RunProcess({.program = UdmgServer::DefaultBinary(), .args = std::move(args),
                       .env = std::move(env), .working_dir = dir.path()});
  };
  EXPECT_EQ(run({"init"}, {}).exit_code, kExitOk);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "udmg.db"));

  const std::string env_url = "sqlite:" + (dir.path() / "from-env.db").string();
  EXPECT_EQ(run({"init"}, {{"UDMG_DATABASE_URL", env_url}}).exit_code, kExitOk);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "from-env.db"));

  const std::string flag_url = "sqlite:" + (dir.path() / "from-flag.db").string();
  EXPECT_EQ(run({"init", "--db", flag_url}, {{"UDMG_DATABASE_URL", env_url}}).exit_code, kExitOk)
      << "--db after the subcommand, and it wins over the environment";
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "from-flag.db"));
  // Each of the three is initialized exactly once.
  for (const char* name : {"udmg.db", "from-env.db", "from-flag.db"}) {
    EXPECT_EQ(SqliteExec(dir.path() / name, "SELECT count(*) FROM udmg_root_keys;"), "1\n")
        << name;
  }
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RunbookTest);

}  // namespace
}  // namespace udmg::testing
