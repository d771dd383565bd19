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

const std::set<std::string> kEveryCheck = {"database", "root_key_env", "root_key_seal",
                                           "root_key_version",
                                           "master_keys", "columns", "backup", "nodes",
                                           "stale_values", "values", "jobs"};

std::set<std::string> ChecksIn(const json& doctor) {
  std::set<std::string> checks;
  for (const json& finding : doctor["findings"]) checks.insert(finding["check"]);
  return checks;
}

bool Mentions(const json& finding, const std::string& field, const std::string& text) {
  return finding[field].is_string() &&
         finding[field].get<std::string>().find(text) != std::string::npos;
}

class DoctorTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, kRows)); }

  TempDir dir_;
  UdmgServer server_{dir_.path()};
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
  auto version = FindingsOf(*doctor, "root_key_version");
  ASSERT_EQ(version.size(), 1u);
  EXPECT_EQ(version[0]["status"], "problem");
  EXPECT_TRUE(Mentions(version[0], "message", FingerprintOf(wrong))) << version[0];
  EXPECT_TRUE(Mentions(version[0], "fix", "UDMG_SECURITY_PASSPHRASE_KEY")) << version[0];
  EXPECT_TRUE(Mentions(version[0], "fix", FingerprintOf(current))) << version[0];
  // The master keys cannot be checked without the current K0: that finding is left out.
  EXPECT_TRUE(FindingsOf(*doctor, "master_keys").empty());
}

TEST_P(DoctorTest, MissingOrMalformedRootKeyIsAProblem) {
  RecordBackupRow(server_);
  const std::string key = server_.root_key();
  server_.clear_root_key();
  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto env = FindingsOf(*doctor, "root_key_env");
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0]["status"], "problem");
  EXPECT_TRUE(Mentions(env[0], "message", "not set")) << env[0];
  EXPECT_TRUE(Mentions(env[0], "fix", "UDMG_SECURITY_PASSPHRASE_KEY")) << env[0];
  EXPECT_TRUE(FindingsOf(*doctor, "root_key_version").empty());

  server_.set_root_key(key.substr(0, 63));
  ProcessResult result = server_.Run({"doctor", "--json"});
  EXPECT_EQ(result.exit_code, kExitUnhealthy) << result.Describe();
  ExpectNoKeyIn(result, {key, key.substr(0, 63)});
  doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  env = FindingsOf(*doctor, "root_key_env");
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0]["status"], "problem");
  EXPECT_TRUE(Mentions(env[0], "message", "63")) << env[0];
}

TEST_P(DoctorTest, OlderRootKeyOnThisNodeIsAProblem) {
  const std::string old_key = server_.root_key();
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", new_key});
  server_.set_root_key(new_key);
  RecordBackupRow(server_);
  server_.set_root_key(old_key);
  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto version = FindingsOf(*doctor, "root_key_version");
  ASSERT_EQ(version.size(), 1u);
  EXPECT_EQ(version[0]["status"], "problem");
  EXPECT_TRUE(Mentions(version[0], "message", "older version v1")) << version[0];
  EXPECT_TRUE(Mentions(version[0], "fix", FingerprintOf(new_key))) << version[0];
}

TEST_P(DoctorTest, BackupMustExistAndFollowEveryRotation) {
  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto backup = FindingsOf(*doctor, "backup");
  ASSERT_EQ(backup.size(), 1u);
  EXPECT_EQ(backup[0]["status"], "problem");
  EXPECT_TRUE(Mentions(backup[0], "message", "no keyring backup")) << backup[0];
  EXPECT_TRUE(Mentions(backup[0], "fix", "passphrase-backup --output")) << backup[0];
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
  doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  backup = FindingsOf(*doctor, "backup");
  ASSERT_EQ(backup.size(), 1u);
  EXPECT_EQ(backup[0]["status"], "problem");
  EXPECT_TRUE(Mentions(backup[0], "message", "predates the last keyring change")) << backup[0];
  EXPECT_TRUE(Mentions(backup[0], "message", "master v2")) << backup[0];
}

TEST_P(DoctorTest, ValuesLeftBehindByARotationAreAWarningUntilReencrypted) {
  RunOk(server_, {"rotate-master-key"});
  RecordBackupRow(server_);
  auto doctor = DoctorJson(server_, kExitOk);  // a warning does not change the exit code
  ASSERT_TRUE(doctor);
  auto stale = FindingsOf(*doctor, "stale_values");
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0]["status"], "warning");
  EXPECT_TRUE(Mentions(stale[0], "message", "credentials.secret")) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "message", "v1: " + std::to_string(kRows))) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "fix", "udmg-server reencrypt")) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "fix", "udmg-server sweep")) << stale[0];

  RunOk(server_, {"reencrypt"});
  doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  EXPECT_EQ(StatusesOf(*doctor, "stale_values"), std::vector<std::string>{"ok"});
}

// A column bound to its rows holds values in the unbound form until they are rewritten: the
// binding does not protect them yet, so doctor says how many and how to move them.
TEST_P(DoctorTest, ValuesNotYetInTheBoundFormOfABoundColumnAreAWarningUntilSwept) {
  RecordBackupRow(server_);
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RecordBackupRow(server_);  // binding bumps the keyring revision
  auto doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  auto stale = FindingsOf(*doctor, "stale_values");
  ASSERT_EQ(stale.size(), 1u) << *doctor;
  EXPECT_EQ(stale[0]["status"], "warning");
  EXPECT_TRUE(Mentions(stale[0], "message", "credentials.secret")) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "message", std::to_string(kRows) + " of " +
                                                std::to_string(kRows))) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "message", "bound form")) << stale[0];
  EXPECT_TRUE(Mentions(stale[0], "fix", "udmg-server sweep")) << stale[0];

  RunOk(server_, {"secret", "get", "credentials.secret", "1"});  // a read moves one value
  doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  stale = FindingsOf(*doctor, "stale_values");
  ASSERT_EQ(stale.size(), 1u) << *doctor;
  EXPECT_TRUE(Mentions(stale[0], "message", std::to_string(kRows - 1) + " of " +
                                                std::to_string(kRows))) << stale[0];

  RunOk(server_, {"sweep"});
  doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  EXPECT_EQ(StatusesOf(*doctor, "stale_values"), std::vector<std::string>{"ok"});
}

TEST_P(DoctorTest, ADroppedRegisteredTableIsAProblem) {
  RecordBackupRow(server_);
  server_.Exec("DROP TABLE credentials;");
  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto columns = FindingsOf(*doctor, "columns");
  ASSERT_EQ(columns.size(), 1u);
  EXPECT_EQ(columns[0]["status"], "problem");
  EXPECT_TRUE(Mentions(columns[0], "message", "credentials.secret")) << columns[0];
  EXPECT_TRUE(Mentions(columns[0], "fix", "columns remove credentials.secret")) << columns[0];
}

TEST_P(DoctorTest, ValuesUnderAVersionTheKeyringLacksAreAProblem) {
  RecordBackupRow(server_);
  server_.Exec("UPDATE credentials SET secret = 'udmg:v9:' || substr(secret, 9) WHERE id = 1;");
  auto doctor = DoctorJson(server_, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto values = FindingsOf(*doctor, "values");
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0]["status"], "problem");
  EXPECT_TRUE(Mentions(values[0], "message", "v9: 1")) << values[0];
}

// A job interrupted before it was done (state "stopped", as a signal or a stop file leaves it;
// set here in the job row so the test does not race a running job), then one that failed.
TEST_P(DoctorTest, AnInterruptedOrFailedJobIsAWarningWithItsCommand) {
  RunOk(server_, {"rotate-master-key"});
  RecordBackupRow(server_);
  RunOk(server_, {"reencrypt"});
  server_.Exec("UPDATE udmg_jobs SET state = 'stopped' WHERE kind = 'reencrypt';");
  auto doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  auto jobs = FindingsOf(*doctor, "jobs");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["status"], "warning");
  EXPECT_TRUE(Mentions(jobs[0], "message", "reencrypt job")) << jobs[0];
  EXPECT_TRUE(Mentions(jobs[0], "message", "stopped")) << jobs[0];
  EXPECT_TRUE(Mentions(jobs[0], "fix", "udmg-server reencrypt resumes it")) << jobs[0];

  server_.Exec("UPDATE udmg_jobs SET state = 'failed' WHERE kind = 'reencrypt';");
  doctor = DoctorJson(server_, kExitOk);
  ASSERT_TRUE(doctor);
  jobs = FindingsOf(*doctor, "jobs");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["status"], "warning");
  EXPECT_TRUE(Mentions(jobs[0], "message", "failed")) << jobs[0];
  EXPECT_TRUE(Mentions(jobs[0], "fix", "udmg-server verify")) << jobs[0];
}

TEST_P(DoctorTest, WithoutAKeyringTheFixIsInit) {
  TempDir empty_dir;
  UdmgServer empty(empty_dir.path());
  empty.set_root_key(RandomKeyHex());
  auto doctor = DoctorJson(empty, kExitUnhealthy);
  ASSERT_TRUE(doctor);
  auto keyring = FindingsOf(*doctor, "keyring");
  ASSERT_EQ(keyring.size(), 1u);
  EXPECT_EQ(keyring[0]["status"], "problem");
  EXPECT_TRUE(Mentions(keyring[0], "fix", "udmg-server init")) << keyring[0];
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
  EXPECT_EQ(doctor["findings"][0]["check"], "database");
  EXPECT_EQ(doctor["findings"][0]["status"], "problem");
  EXPECT_TRUE(Mentions(doctor["findings"][0], "fix", "--db")) << doctor;
}

}  // namespace
}  // namespace udmg::testing
