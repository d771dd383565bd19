// PostgreSQL faults in the middle of a re-encryption job, through the binary:
//  - the server restarted with `pg_ctl restart -m immediate`;
//  - the job's connections killed with pg_terminate_backend (found in pg_stat_activity by the
//    backend's application_name, udmg-server).
// Each round rotates the master key, starts `reencrypt` over kRows rows with a modest --rate,
// waits (polling `reencrypt --status`) until the job has committed a given share of the rows,
// injects the fault, and expects what docs/postgres.md promises: the job reconnects, runs the call
// again and completes (exit 0); then no value is stale, none is lost, and
// every value decrypts to what `demo` stored (the independent Python implementation, on a SQLite
// mirror).
//
// Server: a restart would break every other test that shares UDMG_TEST_POSTGRES_URL (ctest -j),
// so this binary starts a private throwaway server of its own (tests/e2e/private_postgres.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/db/postgres_test_database.h"
#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"
#include "tests/e2e/private_postgres.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 50000;
// Slow enough (about 5 s a job) that a fault lands mid-job, fast enough for several rounds.
constexpr const char* kRate = "10000";
const std::vector<std::string> kJob = {"reencrypt", "--rate", kRate, "--batch-size", "250",
                                       "--no-progress"};

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

const ::testing::Environment* const kPrivateServer =
    ::testing::AddGlobalTestEnvironment(new PrivatePostgres);

// How the faulted run ended, for the trace and the summary line of each round.
std::string Outcome(const ProcessResult& result) {
  if (result.Exited(0)) return "completed (retried through the fault)";
  return "exit " + std::to_string(result.exit_code) + ": " + result.stderr_data;
}

// PostgreSQL only: one parameter, so UdmgServer (db::testing::CurrentBackend()) picks a schema
// of its own on the server.
class PostgresFaultTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override {
    UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    server_.emplace(dir_.path());
    ASSERT_TRUE(InitDemo(*server_, kRows));
  }

  // Rows migrated so far by the unfinished job, per `reencrypt --status`; nullopt once there is
  // no unfinished job (it finished before the fault could land).
  std::optional<uint64_t> MigratedSoFar() {
    ProcessResult status = server_->Run({"reencrypt", "--status"});
    EXPECT_TRUE(status.Exited(0)) << status.Describe();
    std::smatch match;
    static const std::regex kUnfinished("unfinished reencrypt job [0-9]+: state running[^\n]*\n"
                                        "  credentials\\.secret: [^\n]*migrated ([0-9]+)");
    if (!std::regex_search(status.stdout_data, match, kUnfinished)) return std::nullopt;
    return std::stoull(match[1]);
  }

  // Waits until the running job has migrated at least `rows` (polling its progress, no timing
  // assumed). False when the job ended first.
  bool WaitForMigrated(BackgroundProcess& job, uint64_t rows) {
    while (job.Running()) {
      std::optional<uint64_t> migrated = MigratedSoFar();
      if (migrated && *migrated >= rows) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Runs one round: new master key, the job, `fault` once `share` of the rows are migrated, the
  // job completing through the fault, nothing stale. True when the fault landed mid-job (`fault`
  // says whether it hit anything).
  bool Round(double share, const std::function<bool()>& fault) {
    ProcessResult rotated = server_->Run({"rotate-master-key"});
    EXPECT_TRUE(rotated.Exited(0)) << rotated.Describe();
    std::unique_ptr<BackgroundProcess> job = server_->Start(kJob);
    bool landed = WaitForMigrated(*job, static_cast<uint64_t>(share * kRows)) && fault();
    ProcessResult faulted = job->Wait();
    std::cout << "[ round at " << share * 100 << "% ] " << (landed ? "" : "(no fault: done first) ")
              << Outcome(faulted) << std::endl;
    EXPECT_TRUE(faulted.Exited(0)) << faulted.Describe();
    EXPECT_NE(faulted.stdout_data.find(" done: "), std::string::npos) << faulted.Describe();
    EXPECT_EQ(StaleOrMissing(), "0 " + std::to_string(kRows));
    return landed;
  }

  // "<stale values> <rows>": values not under the active master version, and the row count.
  std::string StaleOrMissing() {
    std::string active = server_->Exec(
        "SELECT version FROM udmg_master_keys WHERE state = 'active';");
    active.erase(active.find_last_not_of('\n') + 1);
    std::string counts = server_->Exec(
        "SELECT count(*) FILTER (WHERE secret IS NULL OR secret NOT LIKE 'udmg:v" + active +
        ":%'), count(*) FROM credentials;");
    counts.erase(counts.find_last_not_of('\n') + 1);
    std::replace(counts.begin(), counts.end(), '|', ' ');
    return counts;
  }

  // Every value decrypts to what demo stored: `verify`, then the Python implementation.
  void ExpectEveryValueIntact() {
    ProcessResult verify = server_->Run({"verify"});
    EXPECT_TRUE(verify.Exited(0)) << verify.Describe();
    ExpectDemoValuesMigrated(*server_, kRows);
  }

  TempDir dir_;
  std::optional<UdmgServer> server_;
};

TEST_P(PostgresFaultTest, ImmediateRestartMidJobTheJobCompletes) {
  const std::string dir = EnvOr("UDMG_TEST_POSTGRES_DIR", "");
  auto restart = [&] {
    ProcessResult restarted = RunTool(AsServerOwner(
        {PgBin() + "/pg_ctl", "-D", dir + "/data", "-l", dir + "/server.log", "-w", "-t", "60",
         "restart", "-m", "immediate"}));
    EXPECT_TRUE(restarted.Exited(0)) << restarted.Describe();
    return restarted.Exited(0);
  };
  int landed = 0;
  for (double share : {0.05, 0.4, 0.75}) {
    landed += Round(share, restart);
    if (HasFatalFailure() || HasFailure()) break;
  }
  EXPECT_GE(landed, 2) << "the job finished before most restarts: lower kRate";
  ExpectEveryValueIntact();
}

TEST_P(PostgresFaultTest, TerminatedBackendMidBatchTheJobCompletes) {
  // The job's sessions carry application_name udmg-server (db/postgres sets it as a fallback);
  // nothing else of the test runs udmg-server while the job does. A session in a statement or a
  // transaction is taken when one shows up (mid-batch), then every other one of the job.
  int mid_statement = 0;
  auto terminate = [&] {
    const std::string mine = "FROM pg_stat_activity WHERE application_name = 'udmg-server'";
    // A session listed may end before it is signalled (pg_terminate_backend then warns and
    // returns false): such warnings are not the test's business, and only true results count.
    auto terminated = [&](const std::string& which) {
      return "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) " + mine + which;
    };
    // Polled on the server, every millisecond for up to 5 s (a fresh activity snapshot each
    // time): a throttled job's sessions are idle most of the time, and one poll per psql
    // process would see the job end before it caught one at work.
    std::string busy_count = server_->Exec(
        "SET client_min_messages = error; "
        "CREATE FUNCTION pg_temp.terminate_busy() RETURNS bigint LANGUAGE plpgsql AS $$ "
        "DECLARE taken bigint := 0; BEGIN "
        "FOR i IN 1..5000 LOOP PERFORM pg_stat_clear_snapshot(); " +
        terminated(" AND state <> 'idle'") +
        " INTO taken; EXIT WHEN taken > 0; PERFORM pg_sleep(0.001); END LOOP; "
        "RETURN taken; END $$; SELECT pg_temp.terminate_busy();");
    int busy = std::stoi(busy_count.empty() ? "0" : busy_count);
    mid_statement += busy > 0;
    std::string idle_count =
        server_->Exec("SET client_min_messages = error; " + terminated("") + ";");
    // No session at all: the job ended meanwhile (the round does not count as landed).
    return busy + std::stoi(idle_count.empty() ? "0" : idle_count) > 0;
  };
  int landed = 0;
  for (double share : {0.1, 0.5, 0.85}) {
    landed += Round(share, terminate);
    if (HasFatalFailure() || HasFailure()) break;
  }
  EXPECT_GE(landed, 2) << "the job finished before most terminations: lower kRate";
  std::cout << "[ terminations ] " << mid_statement << " of " << landed
            << " caught a session in a statement or transaction" << std::endl;
  ExpectEveryValueIntact();
}

TEST_P(PostgresFaultTest, ServerDownLongerThanTheRetriesIsExitEightThenTheSameCommandCompletes) {
  const std::string dir = EnvOr("UDMG_TEST_POSTGRES_DIR", "");
  const std::string port = ReadFile(dir + "/port");
  ASSERT_FALSE(port.empty()) << "no port file in " << dir;
  auto pg_ctl = [&](std::vector<std::string> action) {
    std::vector<std::string> command = {PgBin() + "/pg_ctl", "-D", dir + "/data", "-l",
                                        dir + "/server.log", "-w", "-t", "60"};
    command.insert(command.end(), action.begin(), action.end());
    ProcessResult result = RunTool(AsServerOwner(command));
    EXPECT_TRUE(result.Exited(0)) << result.Describe();
  };
  ASSERT_TRUE(server_->Run({"rotate-master-key"}).Exited(0));
  std::unique_ptr<BackgroundProcess> job = server_->Start(kJob);
  ASSERT_TRUE(WaitForMigrated(*job, kRows / 4)) << job->Wait().Describe();
  // Down until the job gave up: its retries (about 3 s) cannot outlast a stopped server.
  pg_ctl({"stop", "-m", "immediate"});
  ProcessResult failed = job->Wait();
  pg_ctl({"start", "-o", "-p " + port.substr(0, port.find_last_not_of("\n") + 1)});
  ASSERT_TRUE(failed.Exited(8)) << failed.Describe();
  ASSERT_EQ(failed.StderrLines().size(), 1u) << failed.Describe();
  EXPECT_NE(failed.stderr_data.find("cannot reach the PostgreSQL server"), std::string::npos)
      << failed.stderr_data;
  EXPECT_NE(failed.stderr_data.find("gave up after"), std::string::npos) << failed.stderr_data;
  std::cout << "[ server down ] " << Outcome(failed) << std::flush;

  ProcessResult again = server_->Run(kJob);
  ASSERT_TRUE(again.Exited(0)) << again.Describe();
  EXPECT_NE(again.stdout_data.find("(resumed)"), std::string::npos) << again.stdout_data;
  EXPECT_EQ(StaleOrMissing(), "0 " + std::to_string(kRows));
  ExpectEveryValueIntact();
}

UDMG_INSTANTIATE_FOR_POSTGRES_ONLY(PostgresFaultTest);

}  // namespace
}  // namespace udmg::testing
