// The end-of-run metrics outputs and the options' bad inputs, through the real binary:
// `--metrics-textfile` (atomic, 0644, valid for promtool, the last success time,
// also after a failed run), `--pushgateway` against a real Pushgateway (add semantics keep the
// last success time across a failed run; an unreachable one is a warning), `sweep` with the
// same outputs, `udmg-server metrics` for cron, and every bad option refused before the database
// changes, with one line and the documented exit code.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/e2e/metrics_e2e_support.h"

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kRows = 300;
constexpr char kMigratedLabel[] = "result=\"migrated\"";

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class JobOutputsTest : public ServerTest {
 protected:
  // The directory the textfile goes to; it must hold nothing else afterwards (no temp file).
  fs::path TextfileDir() {
    fs::path dir = dir_.path() / "textfile";
    fs::create_directories(dir);
    return dir;
  }

  // Reads the textfile and checks what every textfile must be: mode 0644, alone in its
  // directory, valid for promtool, free of key material.
  std::string CheckedTextfile(const fs::path& path) {
    EXPECT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                  fs::perms::others_read);
    size_t entries = std::distance(fs::directory_iterator(path.parent_path()), {});
    EXPECT_EQ(entries, 1u) << "a temp file was left next to " << path;
    std::string content = ReadFile(path);
    metrics::testing::ExpectPromtoolAccepts(content);
    ExpectNoSecretIn(content, SecretsOf(server_), path.string());
    return content;
  }
};

TEST_P(JobOutputsTest, TextfileIsWrittenAtTheEndWithTheLastSuccess) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  fs::path path = TextfileDir() / "udmg.prom";
  double started = UnixNow();
  RunOk(server_, {"reencrypt", "--no-progress", "--metrics-textfile", path.string()});
  std::string content = CheckedTextfile(path);
  EXPECT_EQ(FamilyNames(content), ContractFamilies({"job", "keystate"})) << content;
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="reencrypt",state="done"})"), 1.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_rows_total{column="credentials.secret",job="reencrypt",result="migrated"})"),
            static_cast<double>(kRows));
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_progress_ratio{job="reencrypt"})"), 1.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_key_values_stale{column="credentials.secret"})"), 0.0)
      << "the key state is read again at the end";
  std::optional<double> success =
      SampleValue(content, R"(udmg_last_success_timestamp_seconds{job="reencrypt"})");
  ASSERT_TRUE(success.has_value()) << content;
  EXPECT_GE(*success, started - 1);
}

TEST_P(JobOutputsTest, AFailedRunStillWritesTheTextfileWithStateFailed) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  fs::path first = TextfileDir() / "udmg.prom";
  RunOk(server_, {"reencrypt", "--no-progress", "--metrics-textfile", first.string()});
  std::optional<double> earlier = SampleValue(
      ReadFile(first), R"(udmg_last_success_timestamp_seconds{job="reencrypt"})");
  ASSERT_TRUE(earlier.has_value());
  RunOk(server_, {"rotate-master-key"});
  CorruptDemoValue(server_, 3);

  ProcessResult failed =
      server_.Run({"reencrypt", "--no-progress", "--metrics-textfile", first.string()});
  EXPECT_TRUE(failed.Exited(kExitCorrupt)) << failed.Describe();
  std::string content = CheckedTextfile(first);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="reencrypt",state="failed"})"),
            1.0) << content;
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="reencrypt",state="done"})"), 0.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_failures_total{column="credentials.secret",job="reencrypt"})"),
            1.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_last_success_timestamp_seconds{job="reencrypt"})"),
            earlier) << "the last success is the earlier run's, from the jobs table";
}

TEST_P(JobOutputsTest, SweepWritesItsOwnJobMetricsAndAnIdleSweepCountsAsASuccess) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  fs::path path = TextfileDir() / "udmg.prom";
  // --rate bounds the sweep as it bounds reencrypt (high enough not to slow this test).
  RunOk(server_, {"sweep", "--rate", "1000000", "--metrics-textfile", path.string()});
  std::string content = CheckedTextfile(path);
  EXPECT_EQ(FamilyNames(content), ContractFamilies({"job", "keystate"})) << content;
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_rows_total{column="credentials.secret",job="sweep",result="migrated"})"),
            static_cast<double>(kRows));
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_throttle_rows_per_second{job="sweep"})"),
            1000000.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="sweep",state="done"})"), 1.0);
  std::optional<double> swept =
      SampleValue(content, R"(udmg_last_success_timestamp_seconds{job="sweep"})");
  ASSERT_TRUE(swept.has_value()) << content;

  // Nothing left to do: no job row is written, yet the run succeeded.
  double idle_started = UnixNow();
  RunOk(server_, {"sweep", "--metrics-textfile", path.string()});
  content = CheckedTextfile(path);
  EXPECT_EQ(FamilyNames(content), ContractFamilies({"job", "keystate"})) << content;
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="sweep",state="done"})"), 1.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_rows_remaining{job="sweep"})"), 0.0);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_progress_ratio{job="sweep"})"), 1.0);
  std::optional<double> idle =
      SampleValue(content, R"(udmg_last_success_timestamp_seconds{job="sweep"})");
  ASSERT_TRUE(idle.has_value());
  EXPECT_GE(*idle, idle_started - 1);
}

TEST_P(JobOutputsTest, RotationsWithReencryptMeasureTheirJob) {
  ASSERT_TRUE(InitDemo(server_, kRows));
  fs::path path = TextfileDir() / "udmg.prom";
  RunOk(server_, {"rotate-master-key", "--reencrypt", "--no-progress", "--metrics-textfile",
                  path.string()});
  std::string content = CheckedTextfile(path);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="reencrypt",state="done"})"), 1.0);
  EXPECT_EQ(SumSamples(content, "udmg_reencrypt_rows_total", {kMigratedLabel}),
            static_cast<double>(kRows));
  EXPECT_EQ(SampleValue(content, "udmg_master_key_active_version"), 2.0);

  const std::string old_key = server_.root_key();
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"rotate-k0", "--new-key", new_key, "--reencrypt", "--no-progress",
                  "--metrics-textfile", path.string()});
  server_.set_root_key(new_key);
  content = CheckedTextfile(path);
  EXPECT_EQ(SampleValue(content, R"(udmg_reencrypt_job_state{job="reencrypt",state="done"})"), 1.0);
  EXPECT_EQ(SampleValue(content, "udmg_root_key_active_version"), 2.0);
  EXPECT_EQ(SampleValue(content, "udmg_master_key_active_version"), 3.0);
  ExpectNoSecretIn(content, {old_key, new_key}, "the textfile after rotate-k0");
}

TEST_P(JobOutputsTest, MetricsCommandPrintsTheKeyStateWithoutAKey) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  RunOk(server_, {"sweep"});
  std::vector<std::string> secrets = SecretsOf(server_);
  const std::string key = server_.root_key();
  server_.clear_root_key();
  ProcessResult printed = RunOk(server_, {"metrics"});
  server_.set_root_key(key);  // for CheckedTextfile's look-up of the secrets
  EXPECT_EQ(FamilyNames(printed.stdout_data), ContractFamilies({"keystate"}))
      << printed.stdout_data;
  EXPECT_EQ(SampleValue(printed.stdout_data, R"(udmg_key_values{column="credentials.secret",version="2"})"),
            static_cast<double>(kRows));
  EXPECT_EQ(SampleValue(printed.stdout_data, R"(udmg_key_values{column="credentials.secret",version="plaintext"})"),
            0.0);
  EXPECT_EQ(SampleValue(printed.stdout_data, R"(udmg_master_key_active_version)"), 2.0);
  EXPECT_TRUE(SampleValue(printed.stdout_data,
                          R"(udmg_last_success_timestamp_seconds{job="sweep"})").has_value());
  ExpectNoSecretIn(printed.stdout_data + printed.stderr_data, secrets, "`metrics` output");

  fs::path path = TextfileDir() / "keys.prom";
  RunOk(server_, {"metrics", "--textfile", path.string()});
  std::string content = CheckedTextfile(path);
  EXPECT_EQ(content, printed.stdout_data);
}

TEST_P(JobOutputsTest, BadOptionsAreRefusedBeforeTheDatabaseChanges) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  BusyPort busy;
  ASSERT_GT(busy.port(), 0);
  const std::string missing_dir = (dir_.path() / "missing" / "udmg.prom").string();
  struct Case {
    std::vector<std::string> args;
    int code;
  };
  const std::vector<Case> cases = {
      {{"reencrypt", "--metrics-listen", "localhost"}, kExitBadInput},
      {{"reencrypt", "--metrics-listen", "127.0.0.1:70000"}, kExitBadInput},
      {{"reencrypt", "--metrics-listen", "[::1:9100"}, kExitBadInput},
      {{"reencrypt", "--metrics-listen", "127.0.0.1:" + std::to_string(busy.port())},
       kExitConflict},
      {{"reencrypt", "--pushgateway", "ftp://127.0.0.1:9091"}, kExitBadInput},
      {{"reencrypt", "--pushgateway", "not a url"}, kExitBadInput},
      {{"reencrypt", "--metrics-textfile", missing_dir}, kExitBadInput},
      {{"reencrypt", "--metrics-textfile", dir_.path().string()}, kExitBadInput},
      {{"sweep", "--metrics-listen", "nonsense"}, kExitBadInput},
      {{"sweep", "--metrics-textfile", missing_dir}, kExitBadInput},
      {{"sweep", "--rate", "-1"}, kExitUsage},
      {{"rotate-master-key", "--reencrypt", "--metrics-listen", "nonsense"}, kExitBadInput},
      {{"rotate-master-key", "--reencrypt", "--metrics-listen",
        "127.0.0.1:" + std::to_string(busy.port())},
       kExitConflict},
      {{"rotate-k0", "--new-key", RandomKeyHex(), "--reencrypt", "--pushgateway", "http://"},
       kExitBadInput},
      {{"rotate-master-key", "--metrics-textfile", missing_dir}, kExitUsage},
      {{"metrics", "--textfile", missing_dir}, kExitBadInput},
  };
  const std::string before = server_.Dump();
  for (const Case& c : cases) {
    std::string what;
    for (const std::string& arg : c.args) what += arg + " ";
    SCOPED_TRACE(what);
    ProcessResult result = server_.Run(c.args);
    ExpectOneErrorLine(result, c.code);
    ExpectDumpUnchanged(server_, before, what);
  }
}

// A textfile directory this user cannot write is refused before the database is touched. Run
// as an unprivileged user: root may write anywhere.
TEST_P(JobOutputsTest, ATextfileDirectoryThisUserCannotWriteIsBadInput) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const fs::perms read_and_enter = fs::perms::owner_read | fs::perms::owner_exec |
                                   fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec;
  TempDir reachable;
  fs::permissions(reachable.path(), read_and_enter | fs::perms::owner_write);
  const fs::path read_only = reachable.path() / "read-only";
  fs::create_directory(read_only);
  fs::permissions(read_only, read_and_enter);
  const std::string before = server_.Dump();
  ProcessResult result = RunProcess(AsUnprivilegedUser(
      server_.Command({"sweep", "--metrics-textfile", (read_only / "udmg.prom").string()})));
  ExpectOneErrorLine(result, kExitBadInput);
  EXPECT_NE(result.stderr_data.find("is not writable by this user"), std::string::npos)
      << result.Describe();
  ExpectDumpUnchanged(server_, before, "a refused textfile directory");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(JobOutputsTest);

// A real Pushgateway (SQLite only: the database plays no part in the push).
class PushgatewayTest : public JobOutputsTest {
 protected:
  void SetUp() override {
    UDMG_REQUIRE_TOOL(metrics::testing::kPushgateway);
    port_ = metrics::testing::FreePort();
    gateway_ = metrics::testing::ChildProcess::Start(
        {metrics::testing::kPushgateway,
         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        log_dir_.File("pushgateway.log"));
    ASSERT_NE(gateway_, nullptr);
    ASSERT_TRUE(PollUntil([&] {
      std::optional<HttpResponse> ready = HttpGet(port_, "/-/ready");
      return ready && ready->status == 200;
    })) << gateway_->Log();
  }
  std::string Pushed() {
    std::optional<HttpResponse> reply = HttpGet(port_, "/metrics");
    return reply ? reply->body : "";
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  TempDir log_dir_;
  int port_ = -1;
  std::unique_ptr<metrics::testing::ChildProcess> gateway_;
};

TEST_F(PushgatewayTest, AFailedRunKeepsTheLastSuccessPushedBefore) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  RunOk(server_, {"reencrypt", "--no-progress", "--pushgateway", Url()});
  std::string pushed = Pushed();
  double success = SumSamples(pushed, "udmg_last_success_timestamp_seconds");
  EXPECT_GT(success, 0.0) << pushed;
  EXPECT_EQ(SumSamples(pushed, "udmg_reencrypt_job_state", {R"(state="done")"}), 1.0) << pushed;
  EXPECT_EQ(SumSamples(pushed, "udmg_reencrypt_rows_total", {R"(result="migrated")"}),
            static_cast<double>(kRows));
  ExpectNoSecretIn(pushed, SecretsOf(server_), "the Pushgateway");

  // A later success that is not pushed: the jobs table now holds a newer success time than the
  // Pushgateway, so a failed run that pushed its last success family would be caught.
  ASSERT_TRUE(PollUntil([&] { return static_cast<int64_t>(UnixNow()) > success; }));
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"reencrypt", "--no-progress"});
  RunOk(server_, {"rotate-master-key"});
  CorruptDemoValue(server_, 5);
  ProcessResult failed = server_.Run({"reencrypt", "--no-progress", "--pushgateway", Url()});
  EXPECT_TRUE(failed.Exited(kExitCorrupt)) << failed.Describe();
  pushed = Pushed();
  EXPECT_EQ(SumSamples(pushed, "udmg_reencrypt_job_state", {R"(state="failed")"}), 1.0) << pushed;
  EXPECT_EQ(SumSamples(pushed, "udmg_reencrypt_failures_total"), 1.0) << pushed;
  EXPECT_EQ(SumSamples(pushed, "udmg_last_success_timestamp_seconds"), success)
      << "the failed run replaced the last success time\n" << pushed;
}

TEST_F(PushgatewayTest, AnUnreachablePushgatewayIsAWarningNotAFailedJob) {
  ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
  const std::string closed = "http://127.0.0.1:" + std::to_string(metrics::testing::FreePort());
  ProcessResult result = RunOk(server_, {"reencrypt", "--no-progress", "--pushgateway", closed});
  std::vector<std::string> lines = result.StderrLines();
  ASSERT_EQ(lines.size(), 1u) << result.Describe();
  EXPECT_EQ(lines[0].rfind("udmg-server: warning: metrics: the push", 0), 0u) << lines[0];
  ExpectDemoValuesMigrated(server_, kRows);
}

}  // namespace
}  // namespace udmg::testing
