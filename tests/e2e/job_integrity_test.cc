// Jobs and the data they touch, end to end on the binary: a job never writes a column that was
// unregistered, a dropped table never jams a job, a row-bound value is bound to the row's own key
// whatever the operator typed, rows no scan can address are reported, value columns that cannot
// hold an envelope are refused, and a stopped job says how much is really left.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 20;

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

class JobIntegrityTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, kRows)); }

  // other(id, tok): `rows` plaintext tokens "tok-<id>", registered as other.tok.
  void AddOtherTable(int rows) {
    std::string sql = "CREATE TABLE other (id integer PRIMARY KEY, tok text);";
    for (int id = 1; id <= rows; ++id) {
      sql += "INSERT INTO other (id, tok) VALUES (" + std::to_string(id) + ", 'tok-" +
             std::to_string(id) + "');";
    }
    server_.Exec(sql);
    RunOk(server_, {"columns", "add", "other.tok"});
  }
  // A trigger `name` that fails the update of the credentials rows matching `when` (every row
  // when "") with the database's error `sqlite_message` or `postgres_message`.
  void RefuseUpdates(const std::string& name, const std::string& when,
                     const std::string& sqlite_message, const std::string& postgres_message) {
    if (server_.is_sqlite()) {
      server_.Exec("CREATE TRIGGER " + name + " BEFORE UPDATE ON credentials " +
                   (when.empty() ? "" : "WHEN " + when + " ") + "BEGIN SELECT RAISE(ABORT, '" +
                   sqlite_message + "'); END;");
      return;
    }
    const std::string raise = "RAISE EXCEPTION '" + postgres_message + "';";
    server_.Exec("CREATE FUNCTION " + name + "() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN " +
                 (when.empty() ? raise : "IF " + when + " THEN " + raise + " END IF;") +
                 " RETURN NEW; END$$;"
                 "CREATE TRIGGER " +
                 name +
                 " BEFORE UPDATE ON credentials FOR EACH ROW "
                 "EXECUTE FUNCTION " +
                 name + "();");
  }
  // Runs the job: it ends with exit 5, says each of `warnings` on stderr, and counts `failed`
  // rows failed (unmigratable) and every other row migrated.
  void ExpectJobEndsWithFailedRows(int failed, const std::vector<std::string>& warnings) {
    ProcessResult result = server_.Run({"reencrypt", "--no-progress"});
    EXPECT_TRUE(result.Exited(kExitCorrupt)) << result.Describe();
    for (const std::string& warning : warnings) {
      EXPECT_TRUE(Contains(result.stderr_data, warning)) << result.Describe();
    }
    const std::string n = std::to_string(failed);
    EXPECT_TRUE(Contains(result.stdout_data, "migrated " + std::to_string(kRows - failed) +
                                                 ", conflicts 0, failed " + n +
                                                 ", remaining 0, unmigratable " + n))
        << result.Describe();
  }
  int Count(const std::string& sql) const { return std::stoi(Trimmed(server_.Exec(sql))); }
  int RunningJobs() const { return Count("SELECT count(*) FROM udmg_jobs WHERE state = 'running';"); }
};

// A stopped job that had a column resumes without it once the column is unregistered: its
// values stay exactly as they were (plaintext here), and `columns remove` says so.
TEST_P(JobIntegrityTest, AResumedJobNeverWritesAColumnRemovedMeanwhile) {
  AddOtherTable(5);
  RunOk(server_, {"rotate-master-key"});
  ProcessResult bounded = RunOk(
      server_, {"sweep", "--include-plaintext", "--max-rows", "1", "--batch-size", "1"});
  ASSERT_EQ(Count("SELECT count(*) FROM udmg_jobs WHERE kind = 'sweep' AND state = 'stopped';"),
            1)
      << bounded.Describe();
  const std::string tokens = server_.Exec("SELECT id, tok FROM other ORDER BY id;");

  ProcessResult removed = RunOk(server_, {"columns", "remove", "other.tok"});
  EXPECT_TRUE(Contains(removed.stdout_data, "leaves the column out")) << removed.Describe();

  ProcessResult resumed = RunOk(server_, {"sweep", "--include-plaintext"});
  EXPECT_EQ(server_.Exec("SELECT id, tok FROM other ORDER BY id;"), tokens) << resumed.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

// `columns remove` refuses while a job that has the column is running (it may be writing it
// now), changing nothing; once the job is released, it goes through.
TEST_P(JobIntegrityTest, ColumnsRemoveRefusesWhileAJobWithTheColumnRuns) {
  AddOtherTable(3);
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"sweep", "--include-plaintext", "--max-rows", "1", "--batch-size", "1"});
  // As a process killed with kill -9 leaves it.
  server_.Exec("UPDATE udmg_jobs SET state = 'running' WHERE kind = 'sweep';");
  const std::string before = server_.Dump();
  ProcessResult refused = server_.Run({"columns", "remove", "other.tok"});
  ExpectOneErrorLine(refused, kExitConflict);
  EXPECT_TRUE(Contains(refused.stderr_data, "--mark-stopped")) << refused.Describe();
  ExpectDumpUnchanged(server_, before, "columns remove refused under a running job");
  RunOk(server_, {"sweep", "--mark-stopped"});
  RunOk(server_, {"columns", "remove", "other.tok"});
}

// A registered table dropped behind the tool's back: every job command names it with the fix and
// leaves no job `running`; status and metrics report it and still count the other columns; after
// `columns remove` the next run finishes.
TEST_P(JobIntegrityTest, ADroppedTableNeverJamsAJob) {
  AddOtherTable(3);
  RunOk(server_, {"rotate-master-key"});
  // An interrupted sweep over both columns, then the table goes.
  RunOk(server_, {"sweep", "--max-rows", "1", "--batch-size", "1"});
  server_.Exec("DROP TABLE other;");

  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"reencrypt", "--no-progress"}, {"sweep"}, {"verify"},
        {"reencrypt", "--no-progress"}}) {
    ProcessResult failed = server_.Run(command);
    ExpectOneErrorLine(failed, kExitNotFound);
    EXPECT_TRUE(Contains(failed.stderr_data, "table 'other' does not exist")) << failed.Describe();
    EXPECT_TRUE(Contains(failed.stderr_data, "columns remove other.tok")) << failed.Describe();
    EXPECT_EQ(RunningJobs(), 0) << failed.Describe();
  }

  ProcessResult status = RunOk(server_, {"status"});
  EXPECT_TRUE(Contains(status.stdout_data, "column other.tok (key id): MISSING")) << status.Describe();
  // The sweep migrated one value before the drop.
  EXPECT_TRUE(Contains(status.stdout_data, "column credentials.secret (key id): v1 " +
                                               std::to_string(kRows - 1) + ", v2 1,"))
      << status.Describe();
  auto json = StatusJson(server_);
  ASSERT_TRUE(json);
  EXPECT_TRUE((*json)["columns"][1]["missing"].is_string()) << json->dump();
  EXPECT_TRUE((*json)["columns"][0]["missing"].is_null()) << json->dump();
  ProcessResult metrics = RunOk(server_, {"metrics"});
  EXPECT_TRUE(Contains(metrics.stdout_data, "udmg_key_column_missing{column=\"other.tok\"} 1"))
      << metrics.Describe();
  EXPECT_TRUE(Contains(metrics.stdout_data, "udmg_key_values_stale{column=\"credentials.secret\"} " +
                                                std::to_string(kRows - 1) + "\n"))
      << metrics.Describe();

  // A rotation supersedes the stopped job: the new one must not inherit the dead column either.
  RunOk(server_, {"rotate-master-key"});
  ProcessResult superseded = server_.Run({"sweep"});
  ExpectOneErrorLine(superseded, kExitNotFound);
  ProcessResult removed = RunOk(server_, {"columns", "remove", "other.tok"});
  EXPECT_TRUE(Contains(removed.stdout_data, "stopped sweep job")) << removed.Describe();
  RunOk(server_, {"sweep"});
  RunOk(server_, {"reencrypt", "--no-progress"});
  EXPECT_EQ(RunningJobs(), 0);
  ExpectDemoValuesMigrated(server_, kRows);
  RunOk(server_, {"prune-keys"});
}

// The AAD of a row-bound value names the row's key as the database holds it: a key typed another
// way that finds the same row ("007", "+8") binds the value to the canonical key, so every later
// read, the verify and a migration agree.
TEST_P(JobIntegrityTest, ARowBoundValueIsBoundToTheRowsOwnKey) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"secret", "put", "credentials.secret", "007"}, "seven");
  RunOk(server_, {"secret", "put", "credentials.secret", "+8"}, "eight");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "7"}).stdout_data, "seven");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "8"}).stdout_data, "eight");
  RunOk(server_, {"verify"});
  // A stale value read (and migrated) through another spelling stays readable by its key.
  RunOk(server_, {"rotate-master-key"});
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "007"}).stdout_data, "seven");
  EXPECT_EQ(Trimmed(server_.Exec("SELECT substr(secret, 1, 8) FROM credentials WHERE id = 7;")),
            "udmg:b2:");
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "7"}).stdout_data, "seven");
  RunOk(server_, {"verify"});
}

// A key column that can hold NULL is refused: rows with a NULL key are invisible to every scan.
TEST_P(JobIntegrityTest, ANullableKeyColumnIsRefused) {
  server_.Exec("CREATE TABLE acct (id integer PRIMARY KEY, ext text UNIQUE, tok text);"
               "INSERT INTO acct (id, ext, tok) VALUES (1, 'a', 'x');");
  const std::string before = server_.Dump();
  ProcessResult refused = server_.Run({"columns", "add", "acct.tok", "--key", "ext"});
  ExpectOneErrorLine(refused, kExitBadInput);
  EXPECT_TRUE(Contains(refused.stderr_data, "can hold NULL")) << refused.Describe();
  ExpectDumpUnchanged(server_, before, "a nullable key column refused");
}

// A column registered with a nullable key before that was refused: the values in rows whose key
// is NULL are reported by verify, and the job fails loudly instead of looping or saying done.
TEST_P(JobIntegrityTest, RowsWithoutAKeyFailLoudly) {
  server_.Exec("CREATE TABLE acct (id integer PRIMARY KEY, ext text UNIQUE, tok text);"
               "INSERT INTO acct (id, ext, tok) VALUES (1, 'a', NULL), (2, NULL, 'udmg:v1:AAAA');"
               "INSERT INTO udmg_encrypted_columns (table_name, column_name, key_column) "
               "VALUES ('acct', 'tok', 'ext');");
  ProcessResult verify = server_.Run({"verify"});
  ExpectOneErrorLine(verify, kExitCorrupt);
  EXPECT_TRUE(Contains(verify.stdout_data, "unaddressable: 1 value(s) in rows whose ext is NULL"))
      << verify.Describe();

  RunOk(server_, {"rotate-master-key"});
  ProcessResult job = server_.Run({"reencrypt", "--no-progress"});
  ExpectOneErrorLine(job, kExitCorrupt);
  EXPECT_TRUE(Contains(job.stderr_data, "acct.tok (1 where ext IS NULL)")) << job.Describe();
  EXPECT_EQ(RunningJobs(), 0);
  ProcessResult sweep = server_.Run({"sweep"});
  ExpectOneErrorLine(sweep, kExitCorrupt);
  EXPECT_TRUE(Contains(sweep.stderr_data, "key is NULL")) << sweep.Describe();
}

// Value columns must hold an envelope as text. PostgreSQL: bytea and char(n) are refused, and a
// varchar(n) too short for the envelope of its longest value is registered with a warning. SQLite
// stores text in any column and enforces no length, so it takes them all, without a warning.
TEST_P(JobIntegrityTest, ValueColumnsMustHoldAnEnvelopeAsText) {
  server_.Exec("CREATE TABLE typed (id integer PRIMARY KEY, b bytea, c char(120), v varchar(40),"
               " t text);"
               "INSERT INTO typed (id, v) VALUES (1, 'a plaintext of twenty');");
  for (const std::string column : {"typed.b", "typed.c"}) {
    const std::string before = server_.Dump();
    ProcessResult add = server_.Run({"columns", "add", column});
    if (server_.is_sqlite()) {
      EXPECT_EQ(add.exit_code, kExitOk) << add.Describe();
      continue;
    }
    ExpectOneErrorLine(add, kExitBadInput);
    EXPECT_TRUE(Contains(add.stderr_data, "use a text or varchar column")) << add.Describe();
    ExpectDumpUnchanged(server_, before, "a value column of the wrong type refused");
  }
  ProcessResult narrow = RunOk(server_, {"columns", "add", "typed.v"});
  EXPECT_EQ(Contains(narrow.stderr_data, "udmg-server: warning: column typed.v holds at most 40"),
            !server_.is_sqlite())
      << narrow.Describe();
  ProcessResult wide = RunOk(server_, {"columns", "add", "typed.t"});
  EXPECT_EQ(wide.stderr_data, "") << wide.Describe();
}

// A job stopped before its end reports what is really left, in its summary, in
// `reencrypt --status` and in the metrics: here it stops past --max-failures after its first
// batch (one batch in flight), with row 1 a damaged envelope.
TEST_P(JobIntegrityTest, AStoppedJobReportsItsTrueRemainingCount) {
  RunOk(server_, {"rotate-master-key"});
  server_.Exec("UPDATE credentials SET secret = 'udmg:v1:AAAA' WHERE id = 1;");
  const std::string textfile = (dir_.path() / "udmg.prom").string();
  ProcessResult stopped = server_.Run(
      {"reencrypt", "--no-progress", "--max-failures", "0", "--batch-size", "2",
       "--batches-in-flight", "1", "--metrics-textfile", textfile});
  ExpectOneErrorLine(stopped, kExitCorrupt);
  // Stale now, less the one value that does not decrypt.
  const int left =
      Count("SELECT count(*) FROM credentials WHERE substr(secret, 1, 8) <> 'udmg:v2:';") - 1;
  ASSERT_GT(left, 0);
  const std::string remaining = "remaining " + std::to_string(left);
  EXPECT_TRUE(Contains(stopped.stdout_data, "credentials.secret: migrated 1, conflicts 0, "
                                            "failed 1, " + remaining + ", unmigratable 1"))
      << stopped.Describe();
  EXPECT_TRUE(Contains(stopped.stdout_data, "max_failures: migrated 1, conflicts 0, failed 1, " +
                                                remaining))
      << stopped.Describe();
  EXPECT_TRUE(Contains(ReadFile(textfile),
                       "udmg_reencrypt_rows_remaining{job=\"reencrypt\"} " + std::to_string(left)))
      << ReadFile(textfile);
  ProcessResult status = RunOk(server_, {"reencrypt", "--status"});
  // --status counts every stale value, the damaged one included.
  EXPECT_TRUE(Contains(status.stdout_data,
                       "  credentials.secret: remaining " + std::to_string(left + 1) + "\n"))
      << status.Describe();
}

// A write that fails (as on a full disk) stops the job with its database error; the summary
// still counts what is left rather than 0, and the job is not left running.
TEST_P(JobIntegrityTest, AFailedWriteReportsTheTrueRemainingCount) {
  RunOk(server_, {"rotate-master-key"});
  RefuseUpdates("disk_full", "", "database or disk is full",
                "could not extend file: No space left on device");
  ProcessResult failed = server_.Run({"reencrypt", "--no-progress"});
  ExpectOneErrorLine(failed, kExitDatabase);
  EXPECT_TRUE(Contains(failed.stdout_data, "error: migrated 0, conflicts 0, failed 0, remaining " +
                                               std::to_string(kRows)))
      << failed.Describe();
  EXPECT_EQ(RunningJobs(), 0);
}

// A trigger that refuses one row's update (PostgreSQL RAISE EXCEPTION, SQLite RAISE(ABORT)) no
// longer stops the job at that batch for ever: the row is named with the database's message,
// recorded as a failure (write_refused) and left as it was; every other row migrates, and the
// job ends like one with values that do not decrypt (exit 5).
TEST_P(JobIntegrityTest, ARowTheDatabaseRefusesIsNamedRecordedAndLeftAsItWas) {
  RunOk(server_, {"rotate-master-key"});
  RefuseUpdates("frozen_row", "NEW.id = 7", "row 7 is frozen", "row 7 is frozen");
  const std::string row_7 = server_.Exec("SELECT secret FROM credentials WHERE id = 7;");
  ExpectJobEndsWithFailedRows(
      1, {"udmg-server: warning: the database refused to write credentials.secret row 7 (row 7 is "
          "frozen); recorded as a failure (write_refused), the value is left as it was\n"});
  EXPECT_EQ(server_.Exec("SELECT secret FROM credentials WHERE id = 7;"), row_7);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE secret LIKE 'udmg:v2:%';"), kRows - 1);
  EXPECT_EQ(Trimmed(server_.Exec("SELECT error_class FROM udmg_reencrypt_failures;")),
            "write_refused");
  EXPECT_EQ(RunningJobs(), 0);
}

// A trigger that changes the value the job writes (PostgreSQL: a BEFORE trigger rewriting NEW;
// SQLite, whose triggers cannot change NEW: an AFTER trigger updating the row again) destroys it;
// the job cannot undo that, but it must not call itself done: each row is named, recorded as a
// failure (write_altered), the job fails with exit 5, and verify names the rows too.
TEST_P(JobIntegrityTest, ARowATriggerChangesAfterTheWriteIsNamedAndTheJobIsNotDone) {
  RunOk(server_, {"rotate-master-key"});
  if (server_.is_sqlite()) {
    server_.Exec(
        "CREATE TRIGGER mangle AFTER UPDATE OF secret ON credentials "
        "WHEN NEW.id IN (3, 8, 12) BEGIN "
        "UPDATE credentials SET secret = substr(NEW.secret, 1, 30) WHERE id = NEW.id; END;");
  } else {
    server_.Exec(
        "CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN IF NEW.id IN (3, 8, 12) THEN NEW.secret := left(NEW.secret, 30); "
        "END IF; RETURN NEW; END$$;"
        "CREATE TRIGGER mangle BEFORE UPDATE ON credentials FOR EACH ROW "
        "EXECUTE FUNCTION mangle();");
  }
  std::vector<std::string> warnings;
  for (const std::string id : {"3", "8", "12"}) {
    warnings.push_back("udmg-server: warning: the database changed the value written to "
                       "credentials.secret row " + id + " (a trigger?); recorded as a failure "
                       "(write_altered): the value written is lost, restore the row from a "
                       "backup\n");
  }
  ExpectJobEndsWithFailedRows(3, warnings);
  EXPECT_EQ(Trimmed(server_.Exec("SELECT count(*) || ' ' || min(error_class) || ' ' || "
                                 "max(error_class) FROM udmg_reencrypt_failures;")),
            "3 write_altered write_altered");
  EXPECT_EQ(Trimmed(server_.Exec("SELECT state FROM udmg_jobs;")), "failed");
  ProcessResult verified = server_.Run({"verify"});
  EXPECT_TRUE(verified.Exited(kExitCorrupt)) << verified.Describe();
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(JobIntegrityTest);

// SQLite: a key column declared COLLATE NOCASE finds "ALICE" for "alice"; the value is bound to
// the key as stored. (PostgreSQL compares text keys exactly unless the schema uses citext or a
// nondeterministic collation, which the test database does not have.)
TEST(JobIntegritySqliteTest, ANoCaseKeyIsBoundAsStored) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, 0));
  server.Exec("CREATE TABLE users (name text NOT NULL PRIMARY KEY COLLATE NOCASE, tok text);"
              "INSERT INTO users (name, tok) VALUES ('alice', NULL);");
  RunOk(server, {"columns", "add", "users.tok", "--key", "name"});
  RunOk(server, {"columns", "bind", "users.tok"});
  RunOk(server, {"secret", "put", "users.tok", "ALICE"}, "hers");
  EXPECT_EQ(RunOk(server, {"secret", "get", "users.tok", "alice"}).stdout_data, "hers");
  RunOk(server, {"verify"});
}

}  // namespace
}  // namespace udmg::testing
