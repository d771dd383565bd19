// Reads from a real PostgreSQL hot standby, through the binary (docs/postgres.md, "Read-only
// sessions"): after a master rotation on the primary, `secret get` on the standby returns every
// plaintext, warns once and writes nothing; a command that must write fails with one line naming
// the standby; a K0 the standby has not replayed yet is reported with the standby's possible lag;
// a job with --max-replica-lag is held while the standby does not replay.
//
// Server: a private primary and a hot standby of it (tests/e2e/private_postgres.h, streaming
// replication made by `scripts/postgres.sh start-standby`), never the shared test server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/db/postgres_test_database.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/e2e/private_postgres.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 12;
constexpr const char* kStandbyCause = "the database is read-only: a hot standby; run this against "
                                      "the primary";

const ::testing::Environment* const kPrivateServers =
    ::testing::AddGlobalTestEnvironment(new PrivatePostgres(/*with_standby=*/true));

std::string Trimmed(std::string text) {
  text.erase(text.find_last_not_of('\n') + 1);
  return text;
}

class PostgresStandbyTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override {
    UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    const char* standby = std::getenv("UDMG_TEST_POSTGRES_STANDBY_URL");
    ASSERT_NE(standby, nullptr) << "the private standby did not start (see above)";
    standby_url_ = standby;
    server_.emplace(dir_.path());
    ASSERT_TRUE(InitDemoAndRotate(*server_, kRows));
  }
  void TearDown() override {
    if (server_) StandbySql("SELECT pg_wal_replay_resume()");  // whatever a test left paused
  }

  // SQL on the standby (psql), its output without the last newline.
  std::string StandbySql(const std::string& sql) {
    ProcessResult result = RunTool({.program = "psql",
                                    .args = {"-X", "-q", "-At", "-d", standby_url_, "-c", sql}});
    EXPECT_TRUE(result.Exited(0)) << sql << "\n" << result.Describe();
    return Trimmed(result.stdout_data);
  }

  // Waits until the standby has replayed everything the primary has committed so far: the
  // primary's WAL insert position, then the standby's replay position reaching it (an event,
  // polled). Not pg_current_wal_lsn(): with synchronous_commit off (scripts/postgres.sh) a commit
  // can still sit in the WAL buffers beyond the written position.
  void WaitForReplay() {
    const std::string lsn = Trimmed(server_->Exec("SELECT pg_current_wal_insert_lsn()"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (StandbySql("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") != "t") {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the standby never replayed " << lsn;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the poll's pace only
    }
  }

  // `args` against the standby: the test's URL (its schema options) on the standby's server.
  ProcessResult RunOnStandby(std::vector<std::string> args, std::string stdin_data = "") {
    Invocation invocation = server_->Command(std::move(args), std::move(stdin_data));
    std::string& url = invocation.args.at(1);
    const std::string primary = *db::testing::TestPostgresUrl();
    EXPECT_EQ(url.rfind(primary, 0), 0u) << url;
    url = standby_url_ + url.substr(primary.size());
    return RunProcess(invocation);
  }

  int StaleValues() {
    return std::stoi(server_->Exec(
        "SELECT count(*) FROM credentials WHERE secret NOT LIKE 'udmg:v2:%'"));
  }

  TempDir dir_;
  std::string standby_url_;
  std::optional<UdmgServer> server_;
};

// One test for reads and writes (each test case starts a primary and a standby of its own under
// ctest, about 13 s: the binary stays near 30 s).
TEST_P(PostgresStandbyTest, ReadsOnTheStandbyWarnOnceAndWriteNothingCommandsThatWriteFail) {
  WaitForReplay();
  const std::string before = server_->Dump();
  for (int id = 1; id <= kRows; ++id) {
    ProcessResult got = RunOnStandby({"secret", "get", "credentials.secret", std::to_string(id)});
    ASSERT_TRUE(got.Exited(kExitOk)) << got.Describe();
    EXPECT_EQ(got.stdout_data, "demo-secret-" + std::to_string(id));
    ASSERT_EQ(got.StderrLines().size(), 1u) << got.Describe();
    EXPECT_EQ(got.StderrLines()[0].rfind("udmg-server: warning: the database is a hot standby: "
                                         "stale values are returned but not re-encrypted",
                                         0),
              0u)
        << got.stderr_data;
  }
  // Reads that never write work as on the primary.
  for (std::vector<std::string> read : {std::vector<std::string>{"status"},
                                        std::vector<std::string>{"verify"},
                                        std::vector<std::string>{"reencrypt", "--status"},
                                        std::vector<std::string>{"columns", "list"}}) {
    ProcessResult result = RunOnStandby(read);
    EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
  }
  // status says where it reads.
  ProcessResult status = RunOnStandby({"status"});
  EXPECT_NE(status.stdout_data.find("session: read-only (a hot standby: it may lag the primary)"),
            std::string::npos)
      << status.Describe();
  ProcessResult status_json = RunOnStandby({"status", "--json"});
  EXPECT_NE(status_json.stdout_data.find("\"standby\": true"), std::string::npos)
      << status_json.Describe();
  // doctor reports (exit 13: no backup was ever taken) and says where it looked.
  ProcessResult doctor = RunOnStandby({"doctor"});
  EXPECT_TRUE(doctor.Exited(13)) << doctor.Describe();
  EXPECT_NE(doctor.stdout_data.find("is reachable (a hot standby: read-only, and it may lag"),
            std::string::npos)
      << doctor.Describe();
  EXPECT_EQ(StaleValues(), kRows);
  ExpectDumpUnchanged(*server_, before, "reads on the standby");

  // Commands that must write: one line naming the standby, exit 8, nothing changed.
  const std::vector<std::vector<std::string>> writers = {
      {"rotate-master-key"},
      {"rotate-k0", "--new-key", RandomKeyHex()},
      {"reencrypt", "--no-progress"},
      {"sweep"},
      {"columns", "add", "credentials.name"},
      {"demo", "--rows", "3"},
  };
  for (const std::vector<std::string>& args : writers) {
    ProcessResult result = RunOnStandby(args);
    ExpectOneErrorLine(result, kExitDatabase);
    EXPECT_NE(result.stderr_data.find(kStandbyCause), std::string::npos) << result.Describe();
  }
  ProcessResult put = RunOnStandby({"secret", "put", "credentials.secret", "1"}, "new value");
  ExpectOneErrorLine(put, kExitDatabase);
  EXPECT_NE(put.stderr_data.find(kStandbyCause), std::string::npos) << put.Describe();
  ExpectDumpUnchanged(*server_, before, "commands refused on the standby");
}

TEST_P(PostgresStandbyTest, RootKeyNotYetReplayedIsSaidToBeTheStandbysLag) {
  WaitForReplay();
  // Replay paused before the rotation: the standby cannot apply it until resumed.
  StandbySql("SELECT pg_wal_replay_pause()");
  const std::string new_key = RandomKeyHex();
  RunOk(*server_, {"rotate-k0", "--new-key", new_key});
  server_->set_root_key(new_key);
  ProcessResult lagging = RunOnStandby({"secret", "get", "credentials.secret", "1"});
  ExpectOneErrorLine(lagging, kExitWrongKey);
  EXPECT_NE(lagging.stderr_data.find("unknown root key"), std::string::npos) << lagging.stderr_data;
  EXPECT_NE(lagging.stderr_data.find("this database is a hot standby, which may lag behind the "
                                     "primary"),
            std::string::npos)
      << lagging.stderr_data;
  // Once replayed, the same read works.
  StandbySql("SELECT pg_wal_replay_resume()");
  WaitForReplay();
  ProcessResult caught_up = RunOnStandby({"secret", "get", "credentials.secret", "1"});
  EXPECT_TRUE(caught_up.Exited(kExitOk)) << caught_up.Describe();
  EXPECT_EQ(caught_up.stdout_data, "demo-secret-1");
}

// --max-replica-lag: while the standby's replay is paused, the WAL of the job's first batch is not
// replayed, its lag grows past the bound and the job is held (it neither stops nor exits); once
// replay resumes the job finishes. A tiny rate keeps the job from finishing before the lag shows
// (a stand-in for a long job), then is lifted so that only the lag holds it.
TEST_P(PostgresStandbyTest, MaxReplicaLagHoldsTheJobWhileTheStandbyDoesNotReplay) {
  WaitForReplay();
  // First as a role without pg_monitor: the replica's position reads NULL, so the job is held
  // from its first batch (never runs blind), says why once, and its run time ends it.
  const std::string role = "udmg_lag_" + std::to_string(getpid());
  const std::string schema = Trimmed(server_->Exec("SELECT current_schema()"));
  server_->Exec("CREATE ROLE " + role + " LOGIN PASSWORD 'Lag-Pa55word'; GRANT USAGE ON SCHEMA " +
                schema + " TO " + role + "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES "
                "IN SCHEMA " + schema + " TO " + role + "; GRANT USAGE ON ALL SEQUENCES IN "
                "SCHEMA " + schema + " TO " + role);
  Invocation unprivileged = server_->Command(
      {"reencrypt", "--no-progress", "--max-replica-lag", "1s", "--run-time", "2s"});
  unprivileged.args.at(1) = UrlWithUser(unprivileged.args.at(1), role);
  unprivileged.env["PGPASSWORD"] = "Lag-Pa55word";
  ProcessResult blind = RunProcess(unprivileged);
  EXPECT_TRUE(blind.Exited(kExitIncomplete)) << blind.Describe();
  ASSERT_EQ(blind.StderrLines().size(), 2u) << blind.Describe();
  EXPECT_NE(blind.StderrLines()[0].find("cannot be read: the database role needs pg_monitor (or "
                                        "pg_read_all_stats)"),
            std::string::npos)
      << blind.Describe();
  EXPECT_EQ(StaleValues(), kRows) << "no batch may start while the lag cannot be read";
  server_->Exec("DROP OWNED BY " + role + "; DROP ROLE " + role);

  // Then with the lag readable (the test's superuser).
  StandbySql("SELECT pg_wal_replay_pause()");
  const std::string textfile = (dir_.path() / "job.prom").string();
  auto job = server_->Start({"reencrypt", "--no-progress", "--batch-size", "1", "--rate", "1e-6",
                             "--max-replica-lag", "1s", "--metrics-textfile", textfile});
  std::optional<nlohmann::json> status;
  auto held_by_lag = [&] {
    status = JobControlStatus(*server_);
    return (status && status->value("state", "") == "replica_lag") || !job->Running();
  };
  ASSERT_TRUE(metrics::testing::PollUntil(held_by_lag));
  ASSERT_TRUE(job->Running()) << job->Wait().Describe();
  const std::string hold = status->value("hold", "");
  EXPECT_EQ(hold.rfind("replica ", 0), 0u) << *status;
  EXPECT_NE(hold.find(", above the replica lag limit 1.0 s"), std::string::npos) << *status;
  // Without the rate, the lag alone holds the job.
  RunOk(*server_, {"reencrypt", "--control", "rate=0"});
  ASSERT_TRUE(metrics::testing::PollUntil(held_by_lag));
  ASSERT_TRUE(job->Running()) << job->Wait().Describe();
  EXPECT_GT(StaleValues(), 0) << *status;
  StandbySql("SELECT pg_wal_replay_resume()");
  ProcessResult finished = job->Wait();
  EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
  EXPECT_EQ(StaleValues(), 0);
  const std::string metrics = ReadFile(textfile);
  EXPECT_GT(ThrottledSecondsIn(metrics, "replica_lag"), 0) << metrics;
}

UDMG_INSTANTIATE_FOR_POSTGRES_ONLY(PostgresStandbyTest);

}  // namespace
}  // namespace udmg::testing
