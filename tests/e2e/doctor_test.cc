// `udmg-server doctor` end to end on every backend (docs/doctor.md): each check, its
// status and fix, the exit code (13 when any finding is a problem, warnings do not count), the
// JSON document, and that doctor writes nothing but its own node row.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/doctor_helpers.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

constexpr int kRows = 6;

const std::set<std::string> kEveryCheck = {"database",         "root_key_env", "root_key_seal",
                                           "root_key_version", "master_keys",  "columns",
                                           "backup",           "nodes",        "stale_values",
                                           "values",           "jobs",         "cryptoperiods"};

// "<n> of <kRows>": how a stale_values message counts the values not yet in the bound form.
std::string OfRows(int n) { return std::to_string(n) + " of " + std::to_string(kRows); }

std::set<std::string> ChecksIn(const json& doctor) {
  std::set<std::string> checks;
  for (const json& finding : doctor["findings"]) checks.insert(finding["check"]);
  return checks;
}

class DoctorTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, kRows)); }

  // Doctor (exit 0) finds every value on the active master version, in its current form.
  void ExpectNoStaleValues() {
    auto doctor = DoctorJson(server_, kExitOk);
    ASSERT_TRUE(doctor);
    EXPECT_EQ(StatusesOf(*doctor, "stale_values"), std::vector<std::string>{"ok"});
  }
};

TEST_P(DoctorTest, HealthyDemoPassesEveryCheckAndWritesNothing) {
  RecordBackupRow(server_);
  const std::string before = server_.Dump();
  auto doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  EXPECT_TRUE((*doctor)["healthy"].get<bool>());
  EXPECT_EQ(ChecksIn(*doctor), kEveryCheck);
  for (const json& finding : (*doctor)["findings"]) EXPECT_EQ(finding["status"], "ok") << finding;
  ExpectDumpUnchanged(server_, before, "doctor");

  // The human form: one line per finding, then the summary; nothing on stderr.
  ProcessResult human = RunOk(server_, {"doctor"});
  EXPECT_EQ(human.stderr_data, "");
  size_t lines = 0;
  for (char c : human.stdout_data) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, (*doctor)["findings"].size() + 1) << human.stdout_data;
  EXPECT_EQ(human.stdout_data.rfind("ok      database: ", 0), 0u) << human.stdout_data;
  EXPECT_NE(human.stdout_data.find("0 problem(s)"), std::string::npos) << human.stdout_data;
  ExpectNoKeyIn(human, {server_.root_key()});
}

TEST_P(DoctorTest, WrongRootKeyIsAProblemNamingTheFix) {
  RecordBackupRow(server_);
  const std::string current = server_.root_key();
  const std::string wrong = RandomKeyHex();
  server_.set_root_key(wrong);
  ProcessResult result = server_.Run({"doctor"});
  ExpectOneErrorLine(result, kExitUnhealthy);
  ExpectNoKeyIn(result, {current, wrong});

  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  EXPECT_EQ(StatusesOf(*doctor, "root_key_env"), std::vector<std::string>{"ok"});
  ExpectOneFinding(*doctor, "root_key_version",
                   {.status = "problem",
                    .in_message = {FingerprintOf(wrong)},
                    .in_fix = {"UDMG_SECURITY_PASSPHRASE_KEY", FingerprintOf(current)}});
  // The master keys cannot be checked without the current K0: that finding is left out.
  EXPECT_TRUE(FindingsOf(*doctor, "master_keys").empty());
}

TEST_P(DoctorTest, MissingOrMalformedRootKeyIsAProblem) {
  RecordBackupRow(server_);
  const std::string key = server_.root_key();
  server_.clear_root_key();
  auto doctor = ExpectDoctorFinding(
      server_, kExitUnhealthy, "root_key_env",
      {.status = "problem", .in_message = {"not set"}, .in_fix = {"UDMG_SECURITY_PASSPHRASE_KEY"}});
  ASSERT_TRUE(doctor);
  EXPECT_TRUE(FindingsOf(*doctor, "root_key_version").empty());

  server_.set_root_key(key.substr(0, 63));
  ProcessResult result = server_.Run({"doctor", "--json"});
  EXPECT_EQ(result.exit_code, kExitUnhealthy) << result.Describe();
  ExpectNoKeyIn(result, {key, key.substr(0, 63)});
  ExpectDoctorFinding(server_, kExitUnhealthy, "root_key_env",
                      {.status = "problem", .in_message = {"63"}});
}

TEST_P(DoctorTest, OlderRootKeyOnThisNodeIsAProblem) {
  const std::string old_key = server_.root_key();
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", new_key});
  server_.set_root_key(new_key);
  RecordBackupRow(server_);
  server_.set_root_key(old_key);
  ExpectDoctorFinding(server_, kExitUnhealthy, "root_key_version",
                      {.status = "problem",
                       .in_message = {"older version v1"},
                       .in_fix = {FingerprintOf(new_key)}});
}

TEST_P(DoctorTest, BackupMustExistAndFollowEveryRotation) {
  auto doctor = ExpectDoctorFinding(server_, kExitUnhealthy, "backup",
                                    {.status = "problem",
                                     .in_message = {"no keyring backup"},
                                     .in_fix = {"passphrase-backup --output"}});
  ASSERT_TRUE(doctor);
  // Every other check is fine: the one problem is the backup.
  for (const json& finding : (*doctor)["findings"]) {
    if (finding["check"] != "backup") {
      EXPECT_EQ(finding["status"], "ok") << finding;
    }
  }

  RecordBackupRow(server_);
  ASSERT_TRUE(DoctorJson(server_, kExitOk));

  // A backup older than the rotation cannot restore the new master version (the backup row is
  // moved one second into the past so that the rotation is certainly newer).
  server_.Exec("UPDATE udmg_backups SET taken_at = taken_at - 1;");
  RunOk(server_, {"rotate-master-key"});
  ExpectDoctorFinding(
      server_, kExitUnhealthy, "backup",
      {.status = "problem", .in_message = {"predates the last keyring change", "master v2"}});
}

TEST_P(DoctorTest, ValuesLeftBehindByARotationAreAWarningUntilReencrypted) {
  RunOk(server_, {"rotate-master-key"});
  RecordBackupRow(server_);
  // A warning does not change the exit code.
  ExpectDoctorFinding(server_, kExitOk, "stale_values",
                      {.status = "warning",
                       .in_message = {"credentials.secret", "v1: " + std::to_string(kRows)},
                       .in_fix = {"udmg-server reencrypt", "udmg-server sweep"}});

  RunOk(server_, {"reencrypt"});
  ExpectNoStaleValues();
}

// A column bound to its rows holds values in the unbound form until they are rewritten: the
// binding does not protect them yet, so doctor says how many and how to move them.
TEST_P(DoctorTest, ValuesNotYetInTheBoundFormOfABoundColumnAreAWarningUntilSwept) {
  RecordBackupRow(server_);
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RecordBackupRow(server_);  // binding bumps the keyring revision
  ExpectDoctorFinding(server_, kExitOk, "stale_values",
                      {.status = "warning",
                       .in_message = {"credentials.secret", OfRows(kRows), "bound form"},
                       .in_fix = {"udmg-server sweep"}});

  RunOk(server_, {"secret", "get", "credentials.secret", "1"});  // a read moves one value
  ExpectDoctorFinding(server_, kExitOk, "stale_values",
                      {.status = "warning", .in_message = {OfRows(kRows - 1)}});

  RunOk(server_, {"sweep"});
  ExpectNoStaleValues();
}

TEST_P(DoctorTest, ADroppedRegisteredTableIsAProblem) {
  RecordBackupRow(server_);
  server_.Exec("DROP TABLE credentials;");
  ExpectDoctorFinding(server_, kExitUnhealthy, "columns",
                      {.status = "problem",
                       .in_message = {"credentials.secret"},
                       .in_fix = {"columns remove credentials.secret"}});
}

TEST_P(DoctorTest, ValuesUnderAVersionTheKeyringLacksAreAProblem) {
  RecordBackupRow(server_);
  server_.Exec("UPDATE credentials SET secret = 'udmg:v9:' || substr(secret, 9) WHERE id = 1;");
  ExpectDoctorFinding(server_, kExitUnhealthy, "values",
                      {.status = "problem", .in_message = {"v9: 1"}});
}

// A job interrupted before it was done (state "stopped", as a signal or a stop file leaves it;
// set here in the job row so the test does not race a running job), then one that failed.
TEST_P(DoctorTest, AnInterruptedOrFailedJobIsAWarningWithItsCommand) {
  RunOk(server_, {"rotate-master-key"});
  RecordBackupRow(server_);
  RunOk(server_, {"reencrypt"});
  server_.Exec("UPDATE udmg_jobs SET state = 'stopped' WHERE kind = 'reencrypt';");
  ExpectDoctorFinding(server_, kExitOk, "jobs",
                      {.status = "warning",
                       .in_message = {"reencrypt job", "stopped"},
                       .in_fix = {"udmg-server reencrypt resumes it"}});

  server_.Exec("UPDATE udmg_jobs SET state = 'failed' WHERE kind = 'reencrypt';");
  ExpectDoctorFinding(
      server_, kExitOk, "jobs",
      {.status = "warning", .in_message = {"failed"}, .in_fix = {"udmg-server verify"}});
}

TEST_P(DoctorTest, WithoutAKeyringTheFixIsInit) {
  TempDir empty_dir;
  UdmgServer empty(empty_dir.path());
  empty.set_root_key(RandomKeyHex());
  ExpectDoctorFinding(empty, kExitUnhealthy, "keyring",
                      {.status = "problem", .in_fix = {"udmg-server init"}});
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(DoctorTest);

// An unreachable database is a finding (exit 13), not a database error (exit 8).
TEST(DoctorDatabaseTest, UnreachableDatabaseIsAFinding) {
  TempDir dir;
  const std::string url = "sqlite:" + (dir.path() / "no-such-dir" / "udmg.db").string();
  ProcessResult result = RunProcess({.program = UdmgServer::DefaultBinary(),
                                     .args = {"--db", url, "doctor", "--json"},
                                     .env = {{"UDMG_SECURITY_PASSPHRASE_KEY", RandomKeyHex()}}});
  ExpectOneErrorLine(result, kExitUnhealthy);
  json doctor = json::parse(result.stdout_data, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(doctor.is_object()) << result.Describe();
  EXPECT_FALSE(doctor["healthy"].get<bool>());
  ASSERT_EQ(doctor["findings"].size(), 1u) << doctor;
  ExpectOneFinding(doctor, "database", {.status = "problem", .in_fix = {"--db"}});
}

}  // namespace
}  // namespace udmg::testing
