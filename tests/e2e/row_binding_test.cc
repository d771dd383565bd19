// Row binding (docs/security.md, "Binding values to their row"), end to end on the binary: what
// `columns bind` and `columns unbind` change, how values move to the bound form, and what someone
// with write access to the database can no longer do (move a value to another row, or slip in an
// unbound value from another column). Every refusal: one error line, a documented exit code, and
// the database unchanged.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 30;

class RowBindingTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, kRows)); }

  std::string Secret(int id) const {
    return server_.Exec("SELECT secret FROM credentials WHERE id = " + std::to_string(id) + ";");
  }
  // Copies the stored secret of row `from` into row `to`, as someone with write access could.
  void CopySecret(int from, int to) const {
    server_.Exec("UPDATE credentials SET secret = (SELECT secret FROM credentials WHERE id = " +
                 std::to_string(from) + ") WHERE id = " + std::to_string(to) + ";");
  }
  // The number of credentials.secret values whose envelope starts with `prefix`.
  int CountWithPrefix(const std::string& prefix) const {
    std::string out = server_.Exec("SELECT count(*) FROM credentials WHERE substr(secret, 1, " +
                                   std::to_string(prefix.size()) + ") = '" + prefix + "';");
    return std::stoi(out);
  }
};

TEST_P(RowBindingTest, BindRecordsTheChoiceAndTouchesNoValue) {
  const std::string values = server_.Exec("SELECT id, secret FROM credentials ORDER BY id;");
  ProcessResult bound = RunOk(server_, {"columns", "bind", "credentials.secret"});
  EXPECT_TRUE(Contains(bound.stdout_data, "master version 2 or newer")) << bound.Describe();
  EXPECT_EQ(server_.Exec("SELECT id, secret FROM credentials ORDER BY id;"), values);
  EXPECT_EQ(RunOk(server_, {"columns", "list"}).stdout_data,
            "credentials.secret key=id bound_since=2\n");
  // Binding twice keeps the version it started at, even after a rotation.
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  EXPECT_EQ(RunOk(server_, {"columns", "list"}).stdout_data,
            "credentials.secret key=id bound_since=2\n");
  auto status = StatusJson(server_);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["columns"][0]["bound_since"], 2);
}

TEST_P(RowBindingTest, SweepMovesEveryValueToTheBoundFormAndReadsStillWork) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"sweep"});
  EXPECT_EQ(CountWithPrefix("udmg:b1:"), kRows);
  RunOk(server_, {"verify"});
  EXPECT_TRUE(Contains(RunOk(server_, {"metrics"}).stdout_data,
                       "udmg_key_values_bound{column=\"credentials.secret\"} 30\n"));
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "3"}).stdout_data,
            "demo-secret-3");
  // A second sweep has nothing to do and writes nothing.
  const std::string before = server_.Dump();
  RunOk(server_, {"sweep"});
  ExpectDumpUnchanged(server_, before, "a sweep of a column already in the bound form");
  // New values are written bound.
  RunOk(server_, {"secret", "put", "credentials.secret", "4"}, "new");
  EXPECT_EQ(Secret(4).rfind("udmg:b1:", 0), 0u) << Secret(4);
}

TEST_P(RowBindingTest, AReadMigratesOneValueToTheBoundForm) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "5"}).stdout_data,
            "demo-secret-5");
  EXPECT_EQ(Secret(5).rfind("udmg:b1:", 0), 0u) << Secret(5);
  EXPECT_EQ(CountWithPrefix("udmg:v1:"), kRows - 1);
}

TEST_P(RowBindingTest, RotateWithReencryptBindsEveryValueUnderTheNewVersion) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
  EXPECT_EQ(CountWithPrefix("udmg:b2:"), kRows);
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(RowBindingTest, ASharedJobBindsEveryRangeOfTheColumn) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"reencrypt", "--shared", "--range-rows", "7", "--no-progress"});
  EXPECT_EQ(CountWithPrefix("udmg:b2:"), kRows);
  RunOk(server_, {"verify"});
}

// The attack binding exists for: a valid envelope moved to another row. Bound, it no longer
// decrypts there: the read, verify and the job all refuse it and leave it as it is.
TEST_P(RowBindingTest, ABoundValueCopiedToAnotherRowIsRefusedEverywhere) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"sweep"});
  CopySecret(1, 2);
  const std::string before = server_.Dump();
  ProcessResult get = server_.Run({"secret", "get", "credentials.secret", "2"});
  ExpectOneErrorLine(get, kExitCorrupt);
  EXPECT_TRUE(Contains(get.stderr_data, "id=2")) << get.Describe();
  EXPECT_TRUE(Contains(get.stderr_data, "another row")) << get.Describe();
  ExpectDumpUnchanged(server_, before, "reading a moved bound value");
  ProcessResult verify = server_.Run({"verify"});
  EXPECT_EQ(verify.exit_code, kExitCorrupt) << verify.Describe();
  EXPECT_TRUE(Contains(verify.stdout_data, "decryption_failed 1")) << verify.Describe();
  EXPECT_TRUE(Contains(verify.stdout_data, "id 2")) << verify.Describe();
  // Row 1 itself is fine.
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "1"}).stdout_data,
            "demo-secret-1");
  // Without binding the same copy would have been read as row 1's secret.
}

// Downgrade: an unbound envelope of the current version taken from another, unbound column
// would decrypt anywhere. A bound column refuses unbound values under its binding version or
// newer as tampering, and the job records them with their own class.
TEST_P(RowBindingTest, AnUnboundValueFromAnotherColumnIsRefusedAsTampering) {
  server_.Exec("CREATE TABLE tokens (id integer PRIMARY KEY, value text);"
               "INSERT INTO tokens (id, value) VALUES (1, NULL);");
  RunOk(server_, {"columns", "add", "tokens.value"});
  RunOk(server_, {"columns", "bind", "credentials.secret"});  // bound from version 2
  RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress"});
  RunOk(server_, {"secret", "put", "tokens.value", "1"}, "known to the attacker");
  const std::string token = server_.Exec("SELECT value FROM tokens WHERE id = 1;");
  ASSERT_EQ(token.rfind("udmg:v2:", 0), 0u) << token;
  server_.Exec("UPDATE credentials SET secret = (SELECT value FROM tokens WHERE id = 1) "
               "WHERE id = 6;");

  const std::string before = server_.Dump();
  ProcessResult get = server_.Run({"secret", "get", "credentials.secret", "6"});
  ExpectOneErrorLine(get, kExitCorrupt);
  EXPECT_TRUE(Contains(get.stderr_data, "unbound envelope")) << get.Describe();
  ExpectDumpUnchanged(server_, before, "reading an unbound value in a bound column");
  ProcessResult verify = server_.Run({"verify"});
  EXPECT_EQ(verify.exit_code, kExitCorrupt) << verify.Describe();
  EXPECT_TRUE(Contains(verify.stdout_data, "unbound_value 1")) << verify.Describe();

  // The job refuses to rewrite it into the bound form (that would launder the copy).
  RunOk(server_, {"rotate-master-key"});
  ProcessResult job = server_.Run({"reencrypt", "--no-progress"});
  EXPECT_EQ(job.exit_code, kExitCorrupt) << job.Describe();
  EXPECT_EQ(server_.Exec("SELECT error_class FROM udmg_reencrypt_failures;"), "unbound_value\n");
  EXPECT_EQ(Secret(6), token);
  EXPECT_EQ(CountWithPrefix("udmg:b3:"), kRows - 1);
}

TEST_P(RowBindingTest, UnbindKeepsBoundValuesReadableAndWritesUnboundAgain) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"sweep"});
  RunOk(server_, {"columns", "unbind", "credentials.secret"});
  EXPECT_EQ(RunOk(server_, {"columns", "list"}).stdout_data, "credentials.secret key=id\n");
  RunOk(server_, {"verify"});
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "8"}).stdout_data,
            "demo-secret-8");
  EXPECT_EQ(Secret(8).rfind("udmg:v1:", 0), 0u) << Secret(8);  // read migrates it back
  RunOk(server_, {"sweep"});
  EXPECT_EQ(CountWithPrefix("udmg:v1:"), kRows);
  ExpectDemoValuesMigrated(server_, kRows);
}

TEST_P(RowBindingTest, RefusalsChangeNothing) {
  std::string before = server_.Dump();
  ProcessResult unknown = server_.Run({"columns", "bind", "credentials.name"});
  ExpectOneErrorLine(unknown, kExitNotFound);
  ExpectDumpUnchanged(server_, before, "binding an unregistered column");
  ProcessResult malformed = server_.Run({"columns", "bind", "credentials"});
  ExpectOneErrorLine(malformed, kExitBadInput);
  ExpectDumpUnchanged(server_, before, "binding a malformed column name");

  // An interrupted job took the bindings when it started: binding now is refused.
  RunOk(server_, {"rotate-master-key"});
  // 30 rows at 4 rows/s take 7.5 s: the one-second run time stops the job well before its end.
  ProcessResult stopped = server_.Run({"reencrypt", "--no-progress", "--batch-size", "2",
                                       "--rate", "4", "--run-time", "1s"});
  ASSERT_EQ(stopped.exit_code, kExitIncomplete) << stopped.Describe();
  before = server_.Dump();
  ProcessResult refused = server_.Run({"columns", "bind", "credentials.secret"});
  ExpectOneErrorLine(refused, kExitConflict);
  EXPECT_TRUE(Contains(refused.stderr_data, "reencrypt --resume")) << refused.Describe();
  ExpectDumpUnchanged(server_, before, "binding while a job is stopped");
}

TEST_P(RowBindingTest, BindBeforeInitIsRefused) {
  TempDir other;
  UdmgServer fresh(other.path());
  fresh.set_root_key(RandomKeyHex());
  ProcessResult refused = fresh.Run({"columns", "bind", "credentials.secret"});
  ExpectOneErrorLine(refused, kExitNotInitialized);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RowBindingTest);

}  // namespace
}  // namespace udmg::testing
