// Only `init` creates or migrates a database. Every other command, on a SQLite path that does not
// exist (a typo in --db), on another application's SQLite file, or on a PostgreSQL schema without
// udmg-server's tables, exits with the not-initialized code (9) and leaves it as it was: no file
// created, the other file byte for byte the same (no table, no switch to WAL), no table created.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

// Every command that opens the database, with arguments that get it past its own checks.
std::vector<std::vector<std::string>> CommandsButInit(const fs::path& dir) {
  const std::string passphrase_file = (dir / "passphrase").string();
  EXPECT_TRUE(WriteFile(passphrase_file, "a long enough passphrase\n"));
  return {
      {"status"},
      {"status", "--json"},
      {"columns", "list"},
      {"columns", "add", "credentials.secret"},
      {"columns", "remove", "credentials.secret"},
      {"secret", "get", "credentials.secret", "1"},
      {"verify"},
      {"sweep"},
      {"reencrypt", "--no-progress"},
      {"reencrypt", "--status"},
      {"reencrypt", "--mark-stopped"},
      {"sweep", "--mark-stopped"},
      {"rotate-master-key"},
      {"rotate-k0", "--new-key", RandomKeyHex()},
      {"demo", "--rows", "1"},
      {"metrics"},
      {"prune-keys"},
      {"retire-key", "1"},
      {"audit", "list", "--since", "1d"},
      {"audit", "verify"},
      {"policy", "show"},
      {"policy", "set", "--master-max-age", "1d"},
      {"rotate-master-key", "--if-due"},
      {"report"},
      {"passphrase-backup", "--output", (dir / "backup.udmg").string(), "--passphrase-file",
       passphrase_file},
  };
}

std::string Shown(const std::vector<std::string>& args) {
  std::string text = "udmg-server";
  for (const std::string& arg : args) text += " " + arg;
  return text;
}

class UninitializedDatabaseTest : public ServerTest {};

// SQLite: the path does not exist. PostgreSQL: the test's schema is empty.
TEST_P(UninitializedDatabaseTest, NoCommandButInitCreatesTheDatabase) {
  server_.set_root_key(RandomKeyHex());
  const std::string before = server_.is_sqlite() ? "" : server_.Dump();
  for (const std::vector<std::string>& args : CommandsButInit(dir_.path())) {
    ProcessResult result = server_.Run(args);
    EXPECT_TRUE(result.Exited(kExitNotInitialized)) << Shown(args) << ": " << result.Describe();
    ExpectOneErrorLine(result, kExitNotInitialized);
    EXPECT_NE(result.stderr_data.find("init"), std::string::npos)
        << "the message should tell to run init: " << result.stderr_data;
    if (server_.is_sqlite()) {
      EXPECT_FALSE(fs::exists(server_.database())) << Shown(args) << " created the file";
    } else {
      ExpectDumpUnchanged(server_, before, Shown(args));
    }
  }
  // doctor reports it as a problem (its own code), and creates nothing either.
  ProcessResult doctor = server_.Run({"doctor"});
  EXPECT_EQ(doctor.exit_code, 13) << doctor.Describe();
  if (server_.is_sqlite()) {
    EXPECT_FALSE(fs::exists(server_.database()));
  }

  // init is the one that creates it.
  RunOk(server_, {"init"});
  RunOk(server_, {"status"});
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(UninitializedDatabaseTest);

// Another application's SQLite file (rollback journal, one table of its own): every command but
// init refuses it and leaves it byte for byte as it was, in the same journal mode, with no -wal.
TEST(UninitializedSqliteFileTest, AnotherApplicationsFileIsLeftAsItWas) {
  TempDir dir;
  UdmgServer server(dir.path());
  server.set_root_key(RandomKeyHex());
  const fs::path file = server.database();
  SqliteExec(file, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
                   "INSERT INTO notes (body) VALUES ('keep me');");
  const std::string before = ReadFile(file);
  ASSERT_FALSE(before.empty());
  for (const std::vector<std::string>& args : CommandsButInit(dir.path())) {
    ProcessResult result = server.Run(args);
    ExpectOneErrorLine(result, kExitNotInitialized);
    EXPECT_TRUE(ReadFile(file) == before) << Shown(args) << " changed the file";
    EXPECT_FALSE(fs::exists(file.string() + "-wal")) << Shown(args) << " switched it to WAL";
  }
  EXPECT_EQ(SqliteExec(file, "PRAGMA journal_mode;"), "delete\n");
  EXPECT_EQ(SqliteExec(file, "SELECT name FROM sqlite_schema WHERE type = 'table';"), "notes\n");
}

}  // namespace
}  // namespace udmg::testing
