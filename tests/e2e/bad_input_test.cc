// Every bad input ends in exactly one line on stderr, the documented exit code, no key bytes in
// any output, and a database dump byte-for-byte unchanged (docs/exit-codes.md, the CLI contract).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 5;

// TEST_P(BadInputTest, ...) runs on every backend (SQLite file, PostgreSQL schema: UdmgServer
// picks the database); the suites parameterized over bad inputs run on SQLite.
class BadInputFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitDemo(server_, kRows));
    keys_.push_back(server_.root_key());
  }

  // Runs `args`, expects the error shape and `code`, that stdout/stderr hold no key we know of,
  // and that the database did not change. Returns the result for further checks.
  ProcessResult ExpectRefused(std::vector<std::string> args, int code, std::string stdin_data = "") {
    std::string shown = "udmg-server";
    for (const std::string& arg : args) shown += " " + arg;
    const std::string before = server_.Dump();
    ProcessResult result = server_.Run(std::move(args), std::move(stdin_data));
    ExpectOneErrorLine(result, code);
    ExpectNoKeyIn(result, keys_);
    ExpectDumpUnchanged(server_, before, shown);
    return result;
  }

  // Rotates K0 to a fresh key and exports it on this node.
  void RotateRootKey() {
    const std::string next = RandomKeyHex();
    RunOk(server_, {"rotate-k0", "--new-key", next});
    server_.set_root_key(next);
    keys_.push_back(next);
  }

  TempDir dir_;
  UdmgServer server_{dir_.path()};
  std::vector<std::string> keys_;  // every key this test has used, none may ever be printed
};

bool MentionsNumber(const std::string& text, int number) {
  return std::regex_search(text, std::regex("(^|[^0-9])" + std::to_string(number) + "($|[^0-9])"));
}

// ---- K0 from the environment --------------------------------------------------------------------

struct BadRootKey {
  const char* name;
  // Makes the bad value from a valid key; nullopt: the variable is not set at all.
  std::optional<std::string> (*make)(const std::string& valid);
  const char* must_mention;  // "" when nothing in particular
};

void PrintTo(const BadRootKey& bad, std::ostream* out) { *out << bad.name; }

const BadRootKey kBadRootKeys[] = {
    {"Missing", [](const std::string&) -> std::optional<std::string> { return std::nullopt; },
     "UDMG_SECURITY_PASSPHRASE_KEY"},
    {"Empty", [](const std::string&) -> std::optional<std::string> { return ""; }, ""},
    {"SixtyThreeChars",
     [](const std::string& k) -> std::optional<std::string> { return k.substr(0, 63); }, "63"},
    {"SixtyFiveChars",
     [](const std::string& k) -> std::optional<std::string> { return k + "a"; }, "65"},
    {"NonHex",
     [](const std::string& k) -> std::optional<std::string> { return "zz" + k.substr(2); }, ""},
    {"InnerSpace",
     [](const std::string& k) -> std::optional<std::string> {
       return k.substr(0, 32) + " " + k.substr(32);
     },
     ""},
};

const std::vector<std::vector<std::string>> kCommandsNeedingK0 = {
    {"rotate-master-key"},
    {"secret", "get", "credentials.secret", "1"},
    {"sweep"},
    {"verify"},
    {"rotate-k0", "--new-key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
};

class BadRootKeyTest : public BadInputFixture, public ::testing::WithParamInterface<BadRootKey> {};

TEST_P(BadRootKeyTest, IsRefusedWithExitThreeAndNeverEchoed) {
  const BadRootKey& bad = GetParam();
  const std::string valid = server_.root_key();
  const std::optional<std::string> value = bad.make(valid);
  if (value) {
    server_.set_root_key(*value);
    if (value->size() >= 16) keys_.push_back(*value);
    keys_.push_back(valid.substr(2, 40));  // no long fragment of it either
  } else {
    server_.clear_root_key();
  }
  for (const auto& command : kCommandsNeedingK0) {
    SCOPED_TRACE(command[0]);
    ProcessResult result = ExpectRefused(command, kExitBadKey);
    if (*bad.must_mention) {
      EXPECT_NE(result.stderr_data.find(bad.must_mention), std::string::npos)
          << "the message should mention " << bad.must_mention << ": " << result.stderr_data;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCommands, BadRootKeyTest, ::testing::ValuesIn(kBadRootKeys),
                         [](const auto& info) { return std::string(info.param.name); });

class BadInputTest : public BadInputFixture,
                     public ::testing::WithParamInterface<db::testing::StoreBackend> {};

TEST_P(BadInputTest, RootKeyWithSurroundingWhitespaceIsAccepted) {
  server_.set_root_key("  \t" + server_.root_key() + "\n ");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "1"}).stdout_data,
            "demo-secret-1");
}

TEST_P(BadInputTest, UnknownRootKeyIsTheWrongKey) {
  server_.set_root_key(RandomKeyHex());
  keys_.push_back(server_.root_key());
  for (const auto& command : kCommandsNeedingK0) {
    SCOPED_TRACE(command[0]);
    ProcessResult result = ExpectRefused(command, kExitWrongKey);
    EXPECT_NE(result.stderr_data.find("unknown"), std::string::npos) << result.stderr_data;
    EXPECT_NE(result.stderr_data.find("UDMG_SECURITY_PASSPHRASE_KEY"), std::string::npos)
        << result.stderr_data;
  }
}

TEST_P(BadInputTest, OldRootKeyAfterRotationNamesBothVersionsAndTheFix) {
  const std::string old_key = server_.root_key();
  RotateRootKey();
  // A rotation made a minute ago: one committed in the same second as a rotate-k0 started is a
  // race that rotate-k0 lost (exit 7, concurrency_test), not a node left behind.
  server_.Exec("UPDATE udmg_root_keys SET created_at = created_at - 60;");
  server_.set_root_key(old_key);
  for (const auto& command : kCommandsNeedingK0) {
    SCOPED_TRACE(command[0]);
    ProcessResult result = ExpectRefused(command, kExitWrongKey);
    const std::string& message = result.stderr_data;
    EXPECT_TRUE(MentionsNumber(message, 1) && MentionsNumber(message, 2))
        << "the message should name version 1 (this key) and 2 (current): " << message;
    EXPECT_NE(message.find("UDMG_SECURITY_PASSPHRASE_KEY"), std::string::npos) << message;
    EXPECT_NE(message.find("restart"), std::string::npos) << message;
  }
}

// ---- The new key of rotate-k0 ---------------------------------------------------------------------

TEST_P(BadInputTest, ReusingTheCurrentRootKeyIsRefused) {
  ExpectRefused({"rotate-k0", "--new-key", server_.root_key()}, kExitBadKey);
}

TEST_P(BadInputTest, ReusingAnEarlierRootKeyIsRefused) {
  const std::string first = server_.root_key();
  RotateRootKey();
  RotateRootKey();
  ExpectRefused({"rotate-k0", "--new-key", first}, kExitBadKey);
  ExpectRefused({"rotate-k0", "--new-key", keys_[1]}, kExitBadKey);
  // In another case and with whitespace it is still the same key.
  std::string upper = first;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  keys_.push_back(upper);
  ExpectRefused({"rotate-k0", "--new-key", " " + upper + " "}, kExitBadKey);
}

enum class NewKeySource { kArgument, kFile, kStdin };
constexpr const char* kNewKeySourceNames[] = {"Argument", "File", "Stdin"};

class MalformedNewKeyTest
    : public BadInputFixture,
      public ::testing::WithParamInterface<std::tuple<BadRootKey, NewKeySource>> {};

TEST_P(MalformedNewKeyTest, IsRefusedWithExitThree) {
  const auto& [bad, source] = GetParam();
  const std::optional<std::string> value = bad.make(RandomKeyHex());
  ASSERT_TRUE(value);
  if (value->size() >= 16) keys_.push_back(*value);
  const auto key_file = dir_.path() / "new.key";
  switch (source) {
    case NewKeySource::kArgument:
      ExpectRefused({"rotate-k0", "--new-key", *value}, kExitBadKey);
      break;
    case NewKeySource::kFile:
      ASSERT_TRUE(WriteFile(key_file, *value + "\n"));
      ExpectRefused({"rotate-k0", "--new-key-file", key_file.string()}, kExitBadKey);
      break;
    case NewKeySource::kStdin:
      ExpectRefused({"rotate-k0", "--new-key", "-"}, kExitBadKey, *value);
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllSources, MalformedNewKeyTest,
    // All but "Missing": no new key at all is a usage error (NewKeyNeedsExactlyOneSource).
    ::testing::Combine(::testing::ValuesIn(std::begin(kBadRootKeys) + 1, std::end(kBadRootKeys)),
                       ::testing::Values(NewKeySource::kArgument, NewKeySource::kFile,
                                         NewKeySource::kStdin)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param).name) + "_" +
             kNewKeySourceNames[static_cast<int>(std::get<1>(info.param))];
    });

TEST_P(BadInputTest, MissingNewKeyFileIsRefused) {
  const std::string missing = (dir_.path() / "no-such.key").string();
  ProcessResult result = server_.Run({"rotate-k0", "--new-key-file", missing});
  ExpectOneErrorLine(result, kExitBadKey);
  // It names the option, not the text given: that text may be the key itself (key_echo_test).
  EXPECT_NE(result.stderr_data.find("--new-key-file"), std::string::npos) << result.stderr_data;
  EXPECT_EQ(result.stderr_data.find("no-such.key"), std::string::npos) << result.stderr_data;
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_root_keys;"), "1\n");
}

TEST_P(BadInputTest, KeyFileReadableByOthersIsRefused) {
  // Not in the CLI contract: the CLI refuses a key file that group or others can read (as ssh
  // does for private keys), and says how to fix it.
  const auto key_file = dir_.path() / "new.key";
  const std::string key = RandomKeyHex();
  keys_.push_back(key);
  ASSERT_TRUE(WriteFile(key_file, key + "\n",
                        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                            std::filesystem::perms::group_read |
                            std::filesystem::perms::others_read));
  const std::string before = server_.Dump();
  ProcessResult result = server_.Run({"rotate-k0", "--new-key-file", key_file.string()});
  ExpectOneErrorLine(result, kExitBadKey);
  ExpectNoKeyIn(result, keys_);
  ExpectDumpUnchanged(server_, before, "the refused command");
}

TEST_P(BadInputTest, KeyFileOverFourKibibytesIsRefused) {
  const auto key_file = dir_.path() / "big.key";
  const std::string key = RandomKeyHex();
  keys_.push_back(key);
  // A valid key, then padding past the 4 KiB cap: the size alone refuses it.
  ASSERT_TRUE(WriteFile(key_file, key + "\n" + std::string(4097 - key.size(), ' ')));
  ExpectRefused({"rotate-k0", "--new-key-file", key_file.string()}, kExitBadKey);
}

TEST_P(BadInputTest, NewKeyNeedsExactlyOneSource) {
  const auto key_file = dir_.path() / "new.key";
  const std::string key = RandomKeyHex();
  keys_.push_back(key);
  ASSERT_TRUE(WriteFile(key_file, key));
  ExpectRefused({"rotate-k0"}, kExitUsage);
  ExpectRefused({"rotate-k0", "--new-key", key, "--new-key-file", key_file.string()}, kExitUsage);
}

// ---- Stored values ----------------------------------------------------------------------------------

// Flips one base64 character inside the nonce of row `id`: still a well-formed envelope.
void CorruptRow(const UdmgServer& server, int id) {
  server.Exec("UPDATE credentials SET secret = substr(secret, 1, 12) || "
             "CASE substr(secret, 13, 1) WHEN 'A' THEN 'B' ELSE 'A' END || substr(secret, 14) "
             "WHERE id = " + std::to_string(id) + ";");
}

TEST_P(BadInputTest, CorruptCiphertextFailsGetAndVerify) {
  CorruptRow(server_, 3);
  ExpectRefused({"secret", "get", "credentials.secret", "3"}, kExitCorrupt);
  ProcessResult verify = ExpectRefused({"verify"}, kExitCorrupt);
  EXPECT_TRUE(MentionsNumber(verify.stdout_data + verify.stderr_data, 3))
      << "verify should name the failing key 3: " << verify.Describe();
  // The other rows still read.
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "4"}).stdout_data,
            "demo-secret-4");
}

TEST_P(BadInputTest, SweepLeavesACorruptValueByteIdenticalAndExitsFive) {
  CorruptRow(server_, 3);
  RunOk(server_, {"rotate-master-key"});
  const std::string corrupt =
      server_.Exec("SELECT secret FROM credentials WHERE id = 3;");
  ProcessResult sweep = server_.Run({"sweep"});
  ExpectOneErrorLine(sweep, kExitCorrupt);
  ExpectNoKeyIn(sweep, keys_);
  EXPECT_EQ(server_.Exec("SELECT secret FROM credentials WHERE id = 3;"),
            corrupt);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM credentials WHERE secret LIKE 'udmg:v2:%';"),
            std::to_string(kRows - 1) + "\n")
      << "every other value is migrated";
}

// A version prefix with a body that is not base64: it cannot be decrypted. A stored value that
// does not parse is a corrupt value (5), not bad input (docs/decisions.md).
TEST_P(BadInputTest, UndecodableEnvelopeBodyIsRefused) {
  server_.Exec("UPDATE credentials SET secret = 'udmg:v1:not base64!' WHERE id = 2;");
  const std::string before = server_.Dump();
  ProcessResult result = server_.Run({"secret", "get", "credentials.secret", "2"});
  ExpectOneErrorLine(result, kExitCorrupt);
  ExpectDumpUnchanged(server_, before, "the refused command");
  ExpectRefused({"verify"}, kExitCorrupt);
}

// "udmg:" without a valid version: counted as malformed by status, a failure for verify.
TEST_P(BadInputTest, EnvelopeWithoutVersionIsMalformed) {
  server_.Exec("UPDATE credentials SET secret = 'udmg:vX:AAAA' WHERE id = 2;"
             "UPDATE credentials SET secret = 'udmg:v01:AAAA' WHERE id = 3;");
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["columns"][0]["malformed"], 2) << status->dump();
  ProcessResult result = server_.Run({"secret", "get", "credentials.secret", "2"});
  ExpectOneErrorLine(result, kExitCorrupt);
  ExpectRefused({"verify"}, kExitCorrupt);
}

// A well-formed envelope under master version 9, which this keyring never had.
TEST_P(BadInputTest, ValueUnderAVersionTheKeyringLacksIsNotFound) {
  server_.Exec("UPDATE credentials SET secret = 'udmg:v9:" + std::string(40, 'A') +
               "' WHERE id = 2;");
  ProcessResult result = ExpectRefused({"secret", "get", "credentials.secret", "2"},
                                       kExitNotFound);
  EXPECT_TRUE(MentionsNumber(result.stderr_data, 9)) << result.Describe();
}

// ---- Names and rows ---------------------------------------------------------------------------------

struct NotFoundCase {
  const char* name;
  std::vector<std::string> args;
  int code;
};

void PrintTo(const NotFoundCase& c, std::ostream* out) { *out << c.name; }

class NotFoundTest : public BadInputFixture, public ::testing::WithParamInterface<NotFoundCase> {};

TEST_P(NotFoundTest, IsRefused) { ExpectRefused(GetParam().args, GetParam().code); }

INSTANTIATE_TEST_SUITE_P(
    Names, NotFoundTest,
    ::testing::Values(
        NotFoundCase{"AddUnknownTable", {"columns", "add", "nosuch.secret"}, kExitNotFound},
        NotFoundCase{"AddUnknownColumn", {"columns", "add", "credentials.nosuch"}, kExitNotFound},
        NotFoundCase{"AddUnknownKeyColumn",
                     {"columns", "add", "credentials.name", "--key", "nosuch"}, kExitNotFound},
        NotFoundCase{"RemoveUnregistered", {"columns", "remove", "credentials.name"},
                     kExitNotFound},
        NotFoundCase{"GetUnknownTable", {"secret", "get", "nosuch.secret", "1"}, kExitNotFound},
        NotFoundCase{"GetUnregisteredColumn", {"secret", "get", "credentials.name", "1"},
                     kExitNotFound},
        NotFoundCase{"GetMissingRow", {"secret", "get", "credentials.secret", "999"},
                     kExitNotFound},
        NotFoundCase{"PutMissingRow", {"secret", "put", "credentials.secret", "999"},
                     kExitNotFound},
        NotFoundCase{"AddNameWithoutDot", {"columns", "add", "credentials"}, kExitBadInput},
        NotFoundCase{"AddNameNotIdentifier", {"columns", "add", "credentials.se cret"},
                     kExitBadInput}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(BadInputTest, RegisteringAColumnTwiceIsAConflict) {
  ExpectRefused({"columns", "add", "credentials.secret"}, kExitConflict);
}

// A sweep stopped by its bounds, then a reencrypt job running: each keeps the binding as it is.
TEST_P(BadInputTest, BindingWhileAJobIsStoppedOrRunningIsAConflict) {
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"sweep", "--max-rows", "1", "--batch-size", "1"});
  ASSERT_EQ(server_.Exec("SELECT state FROM udmg_jobs WHERE kind = 'sweep';"), "stopped\n");
  for (const char* verb : {"bind", "unbind"}) {
    SCOPED_TRACE(std::string("stopped sweep, ") + verb);
    ExpectRefused({"columns", verb, "credentials.secret"}, kExitConflict);
  }
  RunOk(server_, {"sweep"});  // done: nothing blocks the binding any more

  // One row a second: the job is still running when the bindings are tried.
  RunOk(server_, {"rotate-master-key"});
  auto job = server_.Start({"reencrypt", "--rate", "1", "--batch-size", "1", "--no-progress"});
  while (job->Running() &&
         server_.Exec("SELECT count(*) FROM udmg_jobs WHERE state = 'running';") != "1\n") {
  }
  ASSERT_TRUE(job->Running()) << job->Wait().Describe();
  const std::string columns = server_.Exec("SELECT * FROM udmg_encrypted_columns;");
  for (const char* verb : {"bind", "unbind"}) {
    SCOPED_TRACE(std::string("running reencrypt, ") + verb);
    ProcessResult refused = server_.Run({"columns", verb, "credentials.secret"});
    ExpectOneErrorLine(refused, kExitConflict);  // the job writes meanwhile: no whole dump
  }
  EXPECT_EQ(server_.Exec("SELECT * FROM udmg_encrypted_columns;"), columns);
  ASSERT_TRUE(job->Kill(SIGTERM));
  EXPECT_TRUE(job->Wait().Exited(kExitIncomplete));
}

// ---- Initialization ---------------------------------------------------------------------------------

TEST_P(BadInputTest, InitTwiceIsRefused) { ExpectRefused({"init"}, kExitNotInitialized); }

// Commands on a database `init` never set up: tests/e2e/uninitialized_database_test.cc.

// ---- Usage ------------------------------------------------------------------------------------------

TEST_P(BadInputTest, UsageErrors) {
  ExpectRefused({"no-such-command"}, kExitUsage);
  ExpectRefused({"sweep", "--no-such-option"}, kExitUsage);
  ExpectRefused({"demo"}, kExitUsage);
  ExpectRefused({"secret", "get", "credentials.secret"}, kExitUsage);
  ExpectRefused({"sweep", "--max-rows", "abc"}, kExitUsage);
  ExpectRefused({"sweep", "--batch-size", "0"}, kExitUsage);
  ExpectRefused({"reencrypt", "--batch-size", "0"}, kExitUsage);
}

// The library names a setting in its own words; the operator reads the flag that sets it, one
// that exists (cli/setting_flags.cc).
TEST_P(BadInputTest, ErrorsNameTheFlagThatSetsWhatIsWrong) {
  ProcessResult own_key =
      ExpectRefused({"columns", "add", "credentials.other", "--key", "other"}, kExitBadInput);
  EXPECT_NE(own_key.stderr_data.find("cannot be its own key column; give the row key column "
                                     "(e.g. id) as --key\n"),
            std::string::npos)
      << own_key.Describe();
  ProcessResult lease = ExpectRefused({"reencrypt", "--shared", "--lease", "0s"}, kExitUsage);
  EXPECT_NE(lease.stderr_data.find("error: --lease must be positive"), std::string::npos)
      << lease.Describe();
  RunOk(server_, {"rotate-master-key"});
  ProcessResult resume =
      ExpectRefused({"reencrypt", "--resume", "--no-progress"}, kExitNotFound);
  EXPECT_NE(resume.stderr_data.find("job to resume: run it without --resume to start one\n"),
            std::string::npos)
      << resume.Describe();
}

TEST_P(BadInputTest, MaxDurationThatIsNoDurationIsBadInput) {
  ProcessResult result = ExpectRefused({"sweep", "--max-duration", "soon"}, kExitBadInput);
  EXPECT_NE(result.stderr_data.find("soon"), std::string::npos) << result.Describe();
}

// --db is given here by hand: UdmgServer always passes its own.
TEST(BadDatabaseUrlTest, UnknownSchemeIsBadInput) {
  TempDir dir;
  for (const char* url : {"mysql://localhost/udmg", "file:udmg.db"}) {
    SCOPED_TRACE(url);
    ProcessResult result = RunProcess(
        {.program = UdmgServer::DefaultBinary(), .args = {"--db", url, "status"},
         .working_dir = dir.path()});
    ExpectOneErrorLine(result, kExitBadInput);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "nothing may be created";
}

// Exit 8 on SQLite: a database file that cannot be opened, and one locked past the busy timeout
// (30 s: docs/storage.md) by another process.
TEST(SqliteDatabaseErrorTest, FileThatCannotBeOpenedIsADatabaseError) {
  TempDir dir;
  const std::filesystem::path missing_dir = dir.path() / "no-such-dir" / "udmg.db";
  ProcessResult result = RunProcess({.program = UdmgServer::DefaultBinary(),
                                     .args = {"--db", "sqlite:" + missing_dir.string(), "status"}});
  ExpectOneErrorLine(result, kExitDatabase);
  const std::filesystem::path a_directory = dir.path() / "is-a-dir.db";
  std::filesystem::create_directory(a_directory);
  result = RunProcess({.program = UdmgServer::DefaultBinary(),
                       .args = {"--db", "sqlite:" + a_directory.string(), "status"}});
  ExpectOneErrorLine(result, kExitDatabase);
}

TEST(SqliteDatabaseErrorTest, DatabaseLockedPastTheTimeoutIsADatabaseError) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, 3));
  const std::string before = server.Dump();
  ProcessResult result;
  {
    SqliteWriteLock lock(server.database());
    result = server.Run({"columns", "remove", "credentials.secret"});  // one write, no key
  }
  ExpectOneErrorLine(result, kExitDatabase);
  EXPECT_NE(result.stderr_data.find("database lock"), std::string::npos) << result.Describe();
  ExpectDumpUnchanged(server, before, "a write refused for the lock");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(BadInputTest);

}  // namespace
}  // namespace udmg::testing
