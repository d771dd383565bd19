// udmg-server on PostgreSQL set up as DBAs run it: a non-owner login role (with a password, as the
// throwaway server requires of every role but postgres), row-level security, several schemas,
// passwords in URLs. The set-up (keyring, demo table, policies) is made by the test's superuser
// connection; the command under test runs as the role. PostgreSQL only: these are features of the
// PostgreSQL backend that SQLite does not have.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include <atomic>
#include <string>
#include <vector>

#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/e2e/metrics_e2e_support.h"

namespace udmg::testing {
namespace {

constexpr const char* kRolePassword = "Rls-Pa55word";

std::vector<db::testing::StoreBackend> PostgresOnly() {
  std::vector<db::testing::StoreBackend> backends;
  for (db::testing::StoreBackend& backend : db::testing::AllBackends()) {
    if (backend.name == "postgresql") backends.push_back(std::move(backend));
  }
  return backends;
}

class PostgresDbaTest : public ServerTest {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    role_ = "udmg_dba_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    schema_ = server_.Exec("SELECT current_schema()");
    schema_.erase(schema_.find_last_not_of('\n') + 1);
    server_.Exec("CREATE ROLE " + role_ + " LOGIN PASSWORD '" + kRolePassword + "'");
  }
  void TearDown() override {
    // Privileges first (DROP OWNED revokes them in this database), then the role.
    server_.Exec("DROP OWNED BY " + role_ + "; DROP ROLE " + role_);
    for (const std::string& schema : extra_schemas_) {
      server_.Exec("SET client_min_messages TO warning; DROP SCHEMA " + schema + " CASCADE");
    }
  }

  // Every privilege docs/postgres.md asks of the role, on what the test's schema holds now.
  void GrantTheDocumentedPrivileges() {
    server_.Exec("GRANT USAGE ON SCHEMA " + schema_ + " TO " + role_ + "; GRANT SELECT, INSERT, "
                 "UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema_ + " TO " + role_ +
                 "; GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + schema_ + " TO " + role_);
  }

  // Starts `args` and sends it `signal` once its session waits on a lock (an event the database
  // shows); the job's result. A fatal failure when the job ended first.
  // Only the job's own sessions count: opened after it started, on this test's schema's table
  // (tests running at once share the server, and their jobs wait on their own locks); signalling
  // the job before it runs would kill it.
  void SignalOnceWaitingOnALock(const std::vector<std::string>& args, int signal,
                                ProcessResult& result) {
    std::string started = server_.Exec("SELECT clock_timestamp()");
    started.erase(started.find_last_not_of('\n') + 1);
    std::unique_ptr<BackgroundProcess> job = server_.Start(args);
    while (std::stoi(server_.Exec("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                  "= 'udmg-server' AND wait_event_type = 'Lock' AND "
                                  "backend_start > '" + started + "' AND query LIKE '%" +
                                  schema_ + ".credentials%'")) == 0) {
      ASSERT_TRUE(job->Running()) << job->Wait().Describe();
    }
    ASSERT_TRUE(job->Kill(signal));
    result = job->Wait();
    EXPECT_FALSE(result.timed_out) << result.Describe();
  }

  // `args` run as the role instead of the superuser.
  ProcessResult RunAsRole(std::vector<std::string> args) const {
    Invocation invocation = server_.Command(std::move(args));
    invocation.args.at(1) = UrlWithUser(invocation.args.at(1), role_);
    invocation.env["PGPASSWORD"] = kRolePassword;
    return RunProcess(invocation);
  }

  // `args` run as the superuser with `options` (URL-encoded) instead of the test's own.
  ProcessResult RunWithOptions(const std::string& options, std::vector<std::string> args) const {
    Invocation invocation = server_.Command(std::move(args));
    std::string& url = invocation.args.at(1);
    url = url.substr(0, url.find('?')) + "?options=" + options;
    return RunProcess(invocation);
  }

  int CountWhere(const std::string& condition) const {
    return std::stoi(server_.Exec("SELECT count(*) FROM credentials WHERE " + condition));
  }

  std::string role_;
  std::string schema_;
  std::vector<std::string> extra_schemas_;  // dropped after the test, as the test's own is
};

// The role sees only the values already migrated (row 1, read once after the rotation): every
// count it makes says "nothing left on v1" while 19 values still are.
TEST_P(PostgresDbaTest, RowLevelSecurityThatHidesRowsIsRefusedWhereverACountDecides) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 20));
  RunOk(server_, {"secret", "get", "credentials.secret", "1"});  // migrated as it is read
  ASSERT_EQ(CountWhere("secret LIKE 'udmg:v2:%'"), 1);
  GrantTheDocumentedPrivileges();
  server_.Exec("ALTER TABLE credentials ENABLE ROW LEVEL SECURITY; CREATE POLICY migrated_only "
               "ON credentials USING (secret LIKE 'udmg:v2:%')");
  const std::string before = server_.Dump();

  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"prune-keys"},
                                             {"retire-key", "1", "--no-progress"},
                                             {"retire-key", "1", "--now", "--confirm-unreadable"},
                                             {"reencrypt", "--no-progress"},
                                             {"rotate-master-key", "--reencrypt", "--no-progress"},
                                             {"verify"}}) {
    ProcessResult refused = RunAsRole(command);
    ExpectOneErrorLine(
        refused, kExitDatabase,
        {"cannot see every row of credentials.secret", "ALTER ROLE " + role_ + " BYPASSRLS"});
    ExpectDumpUnchanged(server_, before, command.front() + " as a role that RLS restricts");
  }
  ProcessResult doctor = RunAsRole({"doctor"});
  EXPECT_TRUE(doctor.Exited(13)) << doctor.Describe();
  EXPECT_NE(doctor.stdout_data.find("row-level security is enabled on table " + schema_ +
                                    ".credentials"),
            std::string::npos)
      << doctor.Describe();

  // The fix the messages name: with BYPASSRLS the same commands see and migrate every row.
  server_.Exec("ALTER ROLE " + role_ + " BYPASSRLS");
  ProcessResult migrated = RunAsRole({"reencrypt", "--no-progress"});
  EXPECT_TRUE(migrated.Exited(kExitOk)) << migrated.Describe();
  EXPECT_EQ(CountWhere("secret LIKE 'udmg:v2:%'"), 20);
  ProcessResult pruned = RunAsRole({"prune-keys"});
  EXPECT_TRUE(pruned.Exited(kExitOk)) << pruned.Describe();
  EXPECT_EQ(server_.Exec("SELECT state FROM udmg_master_keys WHERE version = 1"), "retired\n");
  ExpectDemoValuesMigrated(server_, 20);
}

TEST_P(PostgresDbaTest, ColumnsAddWarnsWhenRowLevelSecurityMayHideRows) {
  server_.set_root_key(RandomKeyHex());
  RunOk(server_, {"init"});
  server_.Exec("CREATE TABLE tokens (id integer PRIMARY KEY, secret text); ALTER TABLE tokens "
               "ENABLE ROW LEVEL SECURITY; CREATE TABLE owned (id integer PRIMARY KEY, secret "
               "text); ALTER TABLE owned OWNER TO " + role_ + "; ALTER TABLE owned ENABLE ROW "
               "LEVEL SECURITY, FORCE ROW LEVEL SECURITY");
  GrantTheDocumentedPrivileges();

  ProcessResult tokens = RunAsRole({"columns", "add", "tokens.secret"});
  EXPECT_TRUE(tokens.Exited(kExitOk)) << tokens.Describe();
  EXPECT_NE(tokens.stderr_data.find("udmg-server: warning: udmg-server may not see every row of "
                                    "tokens.secret: row-level security is enabled"),
            std::string::npos)
      << tokens.Describe();
  EXPECT_NE(tokens.stderr_data.find("BYPASSRLS"), std::string::npos) << tokens.Describe();

  // Owning the table is not enough under FORCE ROW LEVEL SECURITY.
  ProcessResult owned = RunAsRole({"columns", "add", "owned.secret"});
  EXPECT_TRUE(owned.Exited(kExitOk)) << owned.Describe();
  EXPECT_NE(owned.stderr_data.find("has FORCE ROW LEVEL SECURITY"), std::string::npos)
      << owned.Describe();

  // A table without row-level security registers without a warning.
  server_.Exec("CREATE TABLE plain (id integer PRIMARY KEY, secret text)");
  GrantTheDocumentedPrivileges();
  ProcessResult plain = RunAsRole({"columns", "add", "plain.secret"});
  EXPECT_TRUE(plain.Exited(kExitOk)) << plain.Describe();
  EXPECT_EQ(plain.stderr_data.find("may not see every row"), std::string::npos) << plain.Describe();
}

// public.credentials and app.credentials, the first registered: a search_path that puts app first
// must neither migrate app's table nor count it for prune-keys, nor make udmg_ tables in app.
TEST_P(PostgresDbaTest, RegisteredTableKeepsItsSchemaWhateverTheSearchPath) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 10));
  const std::string app = schema_ + "_app";
  extra_schemas_.push_back(app);
  server_.Exec("CREATE SCHEMA " + app + "; CREATE TABLE " + app + ".credentials (id integer "
               "PRIMARY KEY, name text, secret text); INSERT INTO " + app + ".credentials "
               "SELECT * FROM " + schema_ + ".credentials");
  const std::string app_before =
      server_.Exec("SELECT string_agg(secret, ',' ORDER BY id) FROM " + app + ".credentials");
  const std::string before = server_.Dump();
  const std::string app_first = "-csearch_path%3D" + app + "%2C" + schema_;

  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"reencrypt", "--no-progress"}, {"prune-keys"}}) {
    ProcessResult refused = RunWithOptions(app_first, command);
    ExpectOneErrorLine(refused, kExitDatabase,
                       {"table 'credentials' is registered as " + schema_ +
                            ".credentials but this connection's search_path",
                        "finds " + app + ".credentials first"});
    ExpectDumpUnchanged(server_, before, command.front() + " with another schema first");
  }
  ProcessResult doctor = RunWithOptions(app_first, {"doctor"});
  EXPECT_TRUE(doctor.Exited(13)) << doctor.Describe();

  // The tool's tables stay where the keyring is: no second set in app, no second keyring.
  ProcessResult init = RunWithOptions(app_first, {"init"});
  EXPECT_TRUE(init.Exited(kExitNotInitialized)) << init.Describe();
  ProcessResult elsewhere =
      RunWithOptions("-csearch_path%3D" + app + "%20-cudmg.schema%3D" + schema_, {"init"});
  EXPECT_TRUE(elsewhere.Exited(kExitNotInitialized)) << elsewhere.Describe();
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM pg_tables WHERE schemaname = '" + app + "'"),
            "1\n");
  ExpectDumpUnchanged(server_, before, "init with another schema first");

  // With the search_path it was registered under, the registered table is migrated, not app's.
  RunOk(server_, {"reencrypt", "--no-progress"});
  ExpectDemoValuesMigrated(server_, 10);
  EXPECT_EQ(server_.Exec("SELECT string_agg(secret, ',' ORDER BY id) FROM " + app +
                         ".credentials"),
            app_before);
}

// The rotation commits, then counting the stale values fails (the role may not read the table):
// the output says the rotation is committed and that rotating again is not the way on.
TEST_P(PostgresDbaTest, RotationCommittedBeforeALaterStepFailedIsReportedAsCommitted) {
  ASSERT_TRUE(InitDemo(server_, 5));
  GrantTheDocumentedPrivileges();
  server_.Exec("REVOKE SELECT ON credentials FROM " + role_);
  ProcessResult rotated = RunAsRole({"rotate-master-key"});
  ExpectOneErrorLine(rotated, kExitDatabase,
                     {"the rotation to master key version 2 is committed, but counting the values "
                      "on older versions failed",
                      "do not rotate again; run `udmg-server reencrypt`"});
  EXPECT_NE(rotated.stdout_data.find("master key rotated: version 2 is active"), std::string::npos)
      << rotated.Describe();
  EXPECT_EQ(server_.Exec("SELECT version FROM udmg_master_keys WHERE state = 'active'"), "2\n");
}

// default_transaction_read_only in the URL's options (as a read-only role or replica would set
// it): reads return the plaintext and skip the write-back, warning once; writes are refused with
// one line naming the setting; nothing changes.
TEST_P(PostgresDbaTest, ReadOnlySessionReadsWithoutWritingBackAndRefusesWrites) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 3));
  const std::string before = server_.Dump();
  const std::string read_only = "-csearch_path%3D" + schema_ + "%20-cudmg.schema%3D" + schema_ +
                                "%20-cdefault_transaction_read_only%3Don";
  ProcessResult got = RunWithOptions(read_only, {"secret", "get", "credentials.secret", "2"});
  ASSERT_TRUE(got.Exited(kExitOk)) << got.Describe();
  EXPECT_EQ(got.stdout_data, "demo-secret-2");
  ASSERT_EQ(got.StderrLines().size(), 1u) << got.Describe();
  EXPECT_EQ(got.StderrLines()[0].rfind(
                "udmg-server: warning: the session is read-only (default_transaction_read_only): "
                "stale values are returned but not re-encrypted under master key version 2",
                0),
            0u)
      << got.stderr_data;
  ProcessResult status = RunWithOptions(read_only, {"status"});
  EXPECT_NE(status.stdout_data.find("session: read-only (default_transaction_read_only); reads "
                                    "work, commands that write need the primary"),
            std::string::npos)
      << status.Describe();
  std::optional<nlohmann::json> writable = StatusJson(server_);
  ASSERT_TRUE(writable.has_value());
  EXPECT_EQ((*writable)["session"], (nlohmann::json{{"read_only", false}, {"standby", false}}));
  ProcessResult rotated = RunWithOptions(read_only, {"rotate-master-key"});
  ExpectOneErrorLine(rotated, kExitDatabase,
                     {"the database is read-only: default_transaction_read_only is on for this "
                      "session",
                      "; run this against the primary"});
  ExpectDumpUnchanged(server_, before, "a read-only session");
}

// Another session (psql) holding ACCESS EXCLUSIVE on credentials until Release() or the end of
// the test. Construction returns once the lock is granted.
class CredentialsLockHolder {
 public:
  // Schema-qualified everywhere: tests running at the same time lock their own `credentials`.
  explicit CredentialsLockHolder(const UdmgServer& server)
      : server_(server),
        table_(Trimmed(server_.Exec("SELECT current_schema()")) + ".credentials"),
        holder_session_("query LIKE 'BEGIN; LOCK TABLE " + table_ +
                        " %' AND pid <> pg_backend_pid()") {
    psql_ = BackgroundProcess::Start(
        {.program = "/usr/bin/psql",
         .args = {"-X", "-q", "-d", server_.database_url(), "-c",
                  "BEGIN; LOCK TABLE " + table_ + " IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)"}});
    while (std::stoi(server_.Exec("SELECT count(*) FROM pg_locks WHERE relation = '" + table_ +
                                  "'::regclass AND mode = 'AccessExclusiveLock' AND granted")) ==
           0) {
      if (!psql_->Running()) {
        ADD_FAILURE() << psql_->Wait().Describe();
        return;
      }
    }
  }
  // Ends the holder's server session (killing psql would not: its backend sleeps on, holding
  // the lock).
  ~CredentialsLockHolder() { Release(); }
  CredentialsLockHolder(const CredentialsLockHolder&) = delete;
  CredentialsLockHolder& operator=(const CredentialsLockHolder&) = delete;

  // The holder's backend pid, as pg_blocking_pids names it.
  std::string BackendPid() const {
    return Trimmed(server_.Exec("SELECT pid FROM pg_stat_activity WHERE " + holder_session_));
  }
  void Release() {
    server_.Exec("SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity WHERE " +
                 holder_session_);
    psql_->Wait();
  }

 private:
  static std::string Trimmed(const std::string& text) { return text.substr(0, text.find('\n')); }

  const UdmgServer& server_;
  const std::string table_;
  const std::string holder_session_;
  std::unique_ptr<BackgroundProcess> psql_;
};

// Another session holds ACCESS EXCLUSIVE on the table for minutes: the job's statement waits on
// it, and the run time, then a signal, must still stop the job (exit 10) instead of waiting for
// the lock. Without the cancel, each run would outlast the runner's watchdog.
TEST_P(PostgresDbaTest, JobBlockedOnALockStopsOnItsRunTimeAndOnASignal) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 10));
  CredentialsLockHolder holder(server_);

  ProcessResult timed = server_.Run({"reencrypt", "--no-progress", "--run-time", "2s"});
  ExpectOneErrorLine(timed, kExitIncomplete, {"stopped while waiting for the database"});

  ProcessResult stopped;
  ASSERT_NO_FATAL_FAILURE(
      SignalOnceWaitingOnALock({"reencrypt", "--no-progress"}, SIGTERM, stopped));
  EXPECT_TRUE(stopped.Exited(kExitIncomplete)) << stopped.Describe();
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_jobs WHERE waiting_for IS NOT NULL"), "0\n")
      << "a stopped job waits for nothing";

  holder.Release();
  RunOk(server_, {"reencrypt", "--no-progress"});
  ExpectDemoValuesMigrated(server_, 10);
}

// A job started with a metrics output reads the key state before it runs; with the table locked
// that read waits too, and the run time, then a signal, must still end the job (exit 10) with its
// textfile written with the state "stopped", for each job kind.
TEST_P(PostgresDbaTest, JobWithMetricsBlockedOnALockAtItsStartStopsOnItsRunTimeAndOnASignal) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 10));
  CredentialsLockHolder holder(server_);
  const std::string textfile = (server_.working_dir() / "job.prom").string();
  for (const std::string kind : {"reencrypt", "sweep"}) {
    SCOPED_TRACE(kind);
    const std::string stopped_state =
        "udmg_reencrypt_job_state{job=\"" + kind + "\",state=\"stopped\"} 1";
    ProcessResult timed = server_.Run(
        {kind, "--no-progress", "--run-time", "2s", "--metrics-textfile", textfile});
    EXPECT_FALSE(timed.timed_out) << timed.Describe();
    EXPECT_TRUE(timed.Exited(kExitIncomplete)) << timed.Describe();
    EXPECT_NE(ReadFile(textfile).find(stopped_state), std::string::npos) << ReadFile(textfile);
    std::filesystem::remove(textfile);

    ProcessResult stopped;
    ASSERT_NO_FATAL_FAILURE(SignalOnceWaitingOnALock(
        {kind, "--no-progress", "--metrics-textfile", textfile}, SIGTERM, stopped));
    EXPECT_TRUE(stopped.Exited(kExitIncomplete)) << stopped.Describe();
    EXPECT_NE(ReadFile(textfile).find(stopped_state), std::string::npos) << ReadFile(textfile);
  }
  holder.Release();
  RunOk(server_, {"sweep", "--no-progress"});
  ExpectDemoValuesMigrated(server_, 10);
}

// A DBA locks the table while a job runs: while the job's statement waits on that lock, the
// holder's backend pid shows in the job's metrics, in `reencrypt --status` run by another process
// (from the job row) and in the job's progress line; once the lock goes, the job finishes and the
// job row waits for nothing.
TEST_P(PostgresDbaTest, JobWaitingOnALockNamesTheHolderInMetricsStatusAndProgress) {
  ASSERT_TRUE(InitDemoAndRotate(server_, 40));
  // The pause file holds the job while the table gets locked, so that it cannot finish first.
  const std::string pause_file = (server_.working_dir() / "pause").string();
  std::unique_ptr<BackgroundProcess> job = server_.Start(
      {"reencrypt", "--rate", "5", "--batch-size", "1", "--pause-file", pause_file,
       "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "0"});
  int port = ListenPort(*job);
  ASSERT_GT(port, 0) << job->Wait().Describe();
  std::string scraped;
  auto sample = [&](const std::string& series) {
    std::optional<metrics::testing::HttpResponse> reply =
        metrics::testing::HttpGet(port, "/metrics");
    scraped = reply ? reply->body : "";
    return SampleValue(scraped, series);
  };
  // The job runs (a row is migrated) before the table is locked under it.
  ASSERT_TRUE(metrics::testing::PollUntil([&] {
    return sample(R"(udmg_reencrypt_batches_total{job="reencrypt"})").value_or(0) > 0;
  })) << scraped;
  ASSERT_TRUE(WriteFile(pause_file, ""));
  ASSERT_TRUE(metrics::testing::PollUntil([&] {
    sample(R"(udmg_reencrypt_batches_total{job="reencrypt"})");
    return ThrottledSecondsIn(scraped, "pause_file") > 0;
  })) << scraped;
  CredentialsLockHolder holder(server_);
  const std::string holder_pid = holder.BackendPid();
  ASSERT_FALSE(holder_pid.empty());
  std::filesystem::remove(pause_file);
  const std::string names_holder = "waiting for a lock held by PostgreSQL backend " + holder_pid;

  EXPECT_TRUE(metrics::testing::PollUntil([&] {
    return sample(R"(udmg_reencrypt_lock_blocking_pid{job="reencrypt"})") ==
           std::stod(holder_pid);
  })) << scraped;
  EXPECT_GE(SampleValue(scraped, R"(udmg_reencrypt_lock_wait_seconds{job="reencrypt"})")
                .value_or(0),
            1.0)
      << scraped;

  ProcessResult status;
  EXPECT_TRUE(metrics::testing::PollUntil([&] {
    status = server_.Run({"reencrypt", "--status"});
    return status.stdout_data.find(names_holder) != std::string::npos;
  })) << status.Describe();
  EXPECT_TRUE(status.Exited(kExitOk)) << status.Describe();

  // Plain `status` shows the same line, in text and JSON, and does not count the column the job
  // waits on (the count would wait behind the same lock).
  ProcessResult overview;
  EXPECT_TRUE(metrics::testing::PollUntil([&] {
    overview = server_.Run({"status"});
    return overview.stdout_data.find("reencrypt job ") != std::string::npos;
  })) << overview.Describe();
  EXPECT_TRUE(overview.Exited(kExitOk)) << overview.Describe();
  EXPECT_NE(overview.stdout_data.find(" (running): " + names_holder), std::string::npos)
      << overview.Describe();
  EXPECT_NE(overview.stdout_data.find("column credentials.secret (key id): not counted: job "),
            std::string::npos)
      << overview.Describe();
  ProcessResult as_json = server_.Run({"status", "--json"});
  ASSERT_TRUE(as_json.Exited(kExitOk)) << as_json.Describe();
  nlohmann::json document = nlohmann::json::parse(as_json.stdout_data);
  ASSERT_EQ(document["waiting_jobs"].size(), 1u) << as_json.stdout_data;
  const nlohmann::json& waiting = document["waiting_jobs"][0];
  EXPECT_EQ(waiting["kind"], "reencrypt");
  EXPECT_EQ(waiting["blocking_pids"], nlohmann::json::array({std::stoll(holder_pid)}));
  EXPECT_EQ(waiting["description"].get<std::string>().rfind(names_holder, 0), 0u)
      << as_json.stdout_data;
  EXPECT_TRUE(document["columns"][0]["not_counted"].is_string()) << as_json.stdout_data;

  // The progress lines of a job without a terminal come every 10 s.
  EXPECT_TRUE(metrics::testing::PollUntil([&] {
    std::ifstream progress(job->stderr_path());
    std::string text((std::istreambuf_iterator<char>(progress)), std::istreambuf_iterator<char>());
    return text.find(names_holder) != std::string::npos;
  }));

  holder.Release();
  ProcessResult finished = job->Wait();
  EXPECT_TRUE(finished.Exited(kExitOk)) << finished.Describe();
  ExpectDemoValuesMigrated(server_, 40);
  EXPECT_EQ(server_.Exec("SELECT count(*) FROM udmg_jobs WHERE waiting_for IS NOT NULL"), "0\n");
}

// Relations whose column cannot hold what udmg-server writes are refused by name, not as missing.
TEST_P(PostgresDbaTest, ColumnsAddRefusesViewsAndGeneratedColumns) {
  server_.set_root_key(RandomKeyHex());
  RunOk(server_, {"init"});
  server_.Exec("CREATE TABLE base (id integer PRIMARY KEY, secret text, shout text GENERATED "
               "ALWAYS AS (upper(secret)) STORED); CREATE VIEW base_view AS SELECT * FROM base; "
               "CREATE MATERIALIZED VIEW base_copy AS SELECT * FROM base");
  const std::string before = server_.Dump();
  struct Case {
    std::string column, says;
  };
  const std::vector<Case> cases = {{"base.shout", "'base.shout' is GENERATED"},
                                   {"base_view.secret", "'base_view' is a view"},
                                   {"base_copy.secret", "'base_copy' is a materialized view"}};
  for (const Case& c : cases) {
    ProcessResult refused = server_.Run({"columns", "add", c.column});
    ExpectOneErrorLine(refused, kExitBadInput, {c.says});
  }
  ExpectDumpUnchanged(server_, before, "columns add of a view or a generated column");
}

// A URL asking for SSL from a server without it is told so, not "check that it is running".
TEST_P(PostgresDbaTest, SslRequiredFromAServerWithoutSslIsSaid) {
  ProcessResult refused =
      RunWithOptions("-csearch_path%3D" + schema_ + "&sslmode=require", {"status"});
  ExpectOneErrorLine(refused, kExitDatabase, {"the URL's sslmode asks for SSL"});
  EXPECT_EQ(refused.stderr_data.find("check that it is running"), std::string::npos)
      << refused.Describe();
}

// A role at its CONNECTION LIMIT is told so, not to check its password (the server's
// max_connections has its own line: "has no free connection").
TEST_P(PostgresDbaTest, RoleAtItsConnectionLimitIsToldSoNotToCheckItsPassword) {
  server_.Exec("ALTER ROLE " + role_ + " CONNECTION LIMIT 0");
  ProcessResult refused = RunAsRole({"status"});
  ExpectOneErrorLine(refused, kExitDatabase,
                     {"too many connections for role",
                      "CONNECTION LIMIT is reached; retry when some of its sessions end"});
  EXPECT_EQ(refused.stderr_data.find("password"), std::string::npos) << refused.Describe();
}

// Refused before any connection, so it needs no server: no command shows any part of the
// password, neither on stderr nor in doctor's report, and each says to check the URL.
TEST(PostgresUrlTest, NoMessageShowsAnyPartOfAPassword) {
  TempDir dir;
  UdmgServer server(dir.path());
  server.set_root_key(RandomKeyHex());
  struct Case {
    std::string url;
    std::vector<std::string> parts;  // of the password
  };
  for (const Case& c : std::vector<Case>{
           {"postgresql://sp2:sec@ret@127.0.0.1:1/db", {"sec", "ret"}},
           {"postgresql://sp2:Sup3r%ZZS3cret@127.0.0.1:1/db", {"Sup3r", "S3cret", "ZZ"}},
           {"postgresql://sp2@127.0.0.1:1/db?password=top%zzsecret", {"top", "zzsecret"}}}) {
    for (const std::vector<std::string>& command :
         std::vector<std::vector<std::string>>{{"status"}, {"doctor"}}) {
      Invocation invocation = server.Command(command);
      invocation.args.at(1) = c.url;
      ProcessResult result = RunProcess(invocation);
      if (command.front() == "doctor") {
        EXPECT_TRUE(result.Exited(13)) << result.Describe();
      } else {
        ExpectOneErrorLine(result, kExitBadInput);
      }
      EXPECT_NE((result.stdout_data + result.stderr_data).find("check the URL"),
                std::string::npos)
          << result.Describe();
      for (const std::string& part : c.parts) {
        EXPECT_EQ(result.stdout_data.find(part), std::string::npos) << c.url << result.Describe();
        EXPECT_EQ(result.stderr_data.find(part), std::string::npos) << c.url << result.Describe();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, PostgresDbaTest, ::testing::ValuesIn(PostgresOnly()),
                         db::testing::BackendName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PostgresDbaTest);

}  // namespace
}  // namespace udmg::testing
