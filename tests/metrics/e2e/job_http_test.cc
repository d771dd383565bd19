// A running job's HTTP listener through the real binary: `reencrypt
// --metrics-listen 127.0.0.1:0` serves an exposition that promtool accepts, holding exactly the
// contract's job and key-state families and no key material; the /control/... routes change the
// job as its next scrape shows; a real Prometheus scrapes it and sees the rows counter rise.
// No assertion is on elapsed time: waits poll with generous deadlines, and a low --rate keeps the
// job running while it is observed (it is then set unlimited so the job ends quickly).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/e2e/metrics_e2e_support.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 6000;
constexpr char kMigrated[] = "result=\"migrated\"";

class JobHttpTest : public ServerTest {
 protected:
  // A finished job first (its success time is in the jobs table), then a rotation: every value is
  // stale and the next `reencrypt` has work to do.
  void SetUp() override {
    ASSERT_TRUE(InitDemo(server_, kRows));
    RunOk(server_, {"reencrypt", "--no-progress"});
    RunOk(server_, {"rotate-master-key"});
  }

  // Starts a throttled job with a listener and waits until it has migrated some rows.
  void StartJob(const std::string& rate, const std::string& linger = "0") {
    job_ = server_.Start({"reencrypt", "--no-progress", "--rate", rate, "--batch-size", "100",
                          "--metrics-listen", "127.0.0.1:0", "--metrics-linger", linger});
    port_ = ListenPort(*job_);
    ASSERT_GT(port_, 0) << job_->Wait().Describe();
    ASSERT_TRUE(PollUntil([&] { return Migrated() > 0; })) << Scrape();
  }

  std::string Scrape() {
    std::optional<HttpResponse> reply = HttpGet(port_, "/metrics");
    return reply && reply->status == 200 ? reply->body : "";
  }
  double Migrated() { return SumSamples(Scrape(), "udmg_reencrypt_rows_total", {kMigrated}); }

  // Lifts the rate limit and expects the job to finish with every value migrated.
  void FinishJob() {
    std::optional<HttpResponse> unlimited = HttpPost(port_, "/control/rate?value=0");
    ASSERT_TRUE(unlimited.has_value());
    ProcessResult result = job_->Wait();
    EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
    ExpectNoSecretIn(result.stdout_data + result.stderr_data, SecretsOf(server_), "job output");
    ExpectDemoValuesMigrated(server_, kRows);
  }

  std::unique_ptr<BackgroundProcess> job_;
  int port_ = -1;
};

TEST_P(JobHttpTest, ScrapeIsValidHasExactlyTheContractFamiliesAndNoSecrets) {
  UDMG_REQUIRE_TOOL(metrics::testing::kPromtool);
  ASSERT_NO_FATAL_FAILURE(StartJob("1000"));
  std::optional<HttpResponse> reply = HttpGet(port_, "/metrics");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->content_type, "text/plain; version=0.0.4; charset=utf-8");
  metrics::testing::CommandResult check = metrics::testing::PromtoolCheckMetrics(reply->body);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << reply->body;
  EXPECT_EQ(FamilyNames(reply->body), ContractFamilies({"job", "keystate"})) << reply->body;
  ExpectNoSecretIn(reply->body, SecretsOf(server_), "the exposition");

  EXPECT_EQ(SampleValue(reply->body, R"(udmg_reencrypt_job_state{job="reencrypt",state="running"})"),
            1.0);
  EXPECT_EQ(SampleValue(reply->body, R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})"),
            1000.0);
  EXPECT_EQ(SampleValue(reply->body, R"(udmg_reencrypt_batch_size_rows{job="reencrypt"})"), 100.0);
  EXPECT_EQ(SampleValue(reply->body, R"(udmg_master_key_active_version)"), 2.0);
  EXPECT_EQ(SampleValue(reply->body, R"(udmg_root_key_active_version)"), 1.0);
  // The key state is read when the run starts, then follows its committed batches.
  std::optional<double> stale =
      SampleValue(reply->body, R"(udmg_key_values_stale{column="credentials.secret"})");
  std::optional<double> moved =
      SampleValue(reply->body, R"(udmg_key_values{column="credentials.secret",version="2"})");
  ASSERT_TRUE(stale && moved) << reply->body;
  EXPECT_GT(*moved, 0.0) << reply->body;
  EXPECT_EQ(*stale + *moved, static_cast<double>(kRows)) << reply->body;
  EXPECT_TRUE(SampleValue(reply->body,
                          R"(udmg_last_success_timestamp_seconds{job="reencrypt"})").has_value());
  std::optional<double> remaining =
      SampleValue(reply->body, R"(udmg_reencrypt_rows_remaining{job="reencrypt"})");
  std::optional<double> ratio =
      SampleValue(reply->body, R"(udmg_reencrypt_progress_ratio{job="reencrypt"})");
  ASSERT_TRUE(remaining && ratio);
  EXPECT_LT(*remaining, kRows);
  EXPECT_GT(*ratio, 0.0);
  EXPECT_LT(*ratio, 1.0);
  EXPECT_GT(SumSamples(reply->body, "udmg_reencrypt_batch_duration_seconds_count",
                       {R"(stage="crypto")"}), 0.0);
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

TEST_P(JobHttpTest, ControlRoutesChangeTheJobAsItsNextScrapeShows) {
  ASSERT_NO_FATAL_FAILURE(StartJob("500"));
  std::optional<HttpResponse> reply = HttpPost(port_, "/control/rate?value=800");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200) << reply->body;
  EXPECT_EQ(nlohmann::json::parse(reply->body)["rate"], 800.0);
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})"),
            800.0);
  reply = HttpPost(port_, "/control/batch-size?value=50");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200) << reply->body;
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_batch_size_rows{job="reencrypt"})"), 50.0);

  reply = HttpGet(port_, "/control/rate");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(nlohmann::json::parse(reply->body)["rate"], 800.0);
  reply = HttpGet(port_, "/control/status");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  nlohmann::json status = nlohmann::json::parse(reply->body);
  EXPECT_EQ(status["ok"], true);
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["total"], kRows);
  EXPECT_EQ(status["batch_size"], 50);

  // A refused value: 400, one JSON line saying why, and nothing changed.
  reply = HttpPost(port_, "/control/rate?value=-5");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400);
  EXPECT_EQ(reply->body.find('\n'), reply->body.size() - 1) << reply->body;
  nlohmann::json refused = nlohmann::json::parse(reply->body);
  EXPECT_EQ(refused["ok"], false);
  EXPECT_FALSE(refused["error"].get<std::string>().empty());
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})"),
            800.0);

  reply = HttpPost(port_, "/control/pause");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_job_state{job="reencrypt",state="paused"})"),
            1.0);
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_job_state{job="reencrypt",state="running"})"),
            0.0);
  // Batches admitted before the pause commit; then the counter stops.
  double settled = -1;
  ASSERT_TRUE(PollUntil([&] {
    double before = Migrated();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    settled = Migrated();
    return settled == before;
  }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Migrated(), settled) << "rows moved while paused";
  EXPECT_LT(settled, kRows);
  EXPECT_GT(SumSamples(Scrape(), "udmg_reencrypt_throttled_seconds_total", {R"(reason="paused")"}),
            0.0);

  reply = HttpPost(port_, "/control/resume");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_TRUE(PollUntil([&] { return Migrated() > settled; })) << "no rows moved after resume";
  EXPECT_EQ(SampleValue(Scrape(), R"(udmg_reencrypt_job_state{job="reencrypt",state="running"})"),
            1.0);
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

// A POST without Content-Length has no body (HTTP/1.1 message framing): the listener reads it
// whole and carries it out like one with an empty body (docs/operations.md); without the control
// header it would be refused (403) like any other.
TEST_P(JobHttpTest, APostWithoutContentLengthHasAnEmptyBody) {
  ASSERT_NO_FATAL_FAILURE(StartJob("500"));
  EXPECT_EQ(RawHttpStatusLine(port_, "POST /control/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Connection: close\r\n\r\n")
                .rfind("HTTP/1.1 403 ", 0),
            0u);
  std::optional<HttpResponse> status = HttpGet(port_, "/control/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(nlohmann::json::parse(status->body)["state"], "running") << status->body;
  EXPECT_EQ(RawHttpStatusLine(port_, "POST /control/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "X-Udmg-Control: 1\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 200 ", 0),
            0u);
  status = HttpGet(port_, "/control/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(nlohmann::json::parse(status->body)["state"], "paused") << status->body;
  std::optional<HttpResponse> resumed = HttpPost(port_, "/control/resume");
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->status, 200);
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

// A textfile that cannot be written at the end (its directory is gone) is a warning: the job's
// own exit code stands.
TEST_P(JobHttpTest, ATextfileThatCannotBeWrittenIsAWarning) {
  const std::filesystem::path textfile_dir = dir_.path() / "textfile";
  std::filesystem::create_directory(textfile_dir);
  job_ = server_.Start({"reencrypt", "--no-progress", "--rate", "500", "--batch-size", "100",
                        "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "0",
                        "--metrics-textfile",
                        (textfile_dir / "udmg.prom").string()});
  port_ = ListenPort(*job_);
  ASSERT_GT(port_, 0) << job_->Wait().Describe();
  ASSERT_TRUE(PollUntil([&] { return Migrated() > 0; })) << Scrape();
  std::filesystem::remove(textfile_dir);
  ASSERT_TRUE(HttpPost(port_, "/control/rate?value=0").has_value());
  ProcessResult result = job_->Wait();
  EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
  EXPECT_EQ(result.StderrLines().size(), 2u) << result.Describe();  // listening, then the warning
  EXPECT_NE(result.stderr_data.find("udmg-server: warning: metrics: the textfile was not "
                                    "written: "),
            std::string::npos)
      << result.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

// A sweep under HTTP control, paused as soon as its control answers (a tight loop on the
// reply, no sleep): one row per batch keeps it running far longer than that takes.
class SweepHttpTest : public JobHttpTest {
 protected:
  void StartPausedSweep(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sweep", "--batch-size", "1", "--metrics-listen",
                                     "127.0.0.1:0", "--metrics-linger", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    job_ = server_.Start(args);
    port_ = ListenPort(*job_);
    ASSERT_GT(port_, 0) << job_->Wait().Describe();
    while (job_->Running()) {
      std::optional<HttpResponse> paused = HttpPost(port_, "/control/pause");
      if (paused && paused->status == 200) break;  // 503 until the job is attached
    }
    ASSERT_TRUE(job_->Running()) << "the sweep ended before it could be paused: "
                                 << job_->Wait().Describe();
    // A batch admitted just before the pause still runs its checks (a rotation found there ends
    // the sweep): time counted as paused shows the next batch is the one being held.
    ASSERT_TRUE(PollUntil([&] {
      std::optional<HttpResponse> status = HttpGet(port_, "/control/status");
      return status && status->status == 200 &&
             nlohmann::json::parse(status->body)["throttled_seconds"]["paused"] > 0;
    })) << job_->Wait().Describe();
  }
};

TEST_P(SweepHttpTest, APausedSweepStillEndsAtMaxDuration) {
  ASSERT_NO_FATAL_FAILURE(StartPausedSweep({"--max-duration", "2s"}));
  ProcessResult result = job_->Wait();
  EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
  EXPECT_NE(result.stdout_data.find("sweep to master key version 2 max-duration: "),
            std::string::npos)
      << result.Describe();
}

// A master key rotated while the sweep is paused ends it at the next batch boundary
// (keyring-changed, exit 0); a root key rotated away from its K0 stops it with exit 4.
TEST_P(SweepHttpTest, ARotationMidSweepEndsIt) {
  ASSERT_NO_FATAL_FAILURE(StartPausedSweep());
  RunOk(server_, {"rotate-master-key"});
  ASSERT_TRUE(HttpPost(port_, "/control/resume").has_value()) << job_->Wait().Describe();
  ProcessResult changed = job_->Wait();
  EXPECT_TRUE(changed.Exited(kExitOk)) << changed.Describe();
  EXPECT_NE(changed.stdout_data.find("sweep to master key version 2 keyring-changed: "),
            std::string::npos)
      << changed.Describe();

  ASSERT_NO_FATAL_FAILURE(StartPausedSweep());
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", new_key});
  ASSERT_TRUE(HttpPost(port_, "/control/resume").has_value());
  ProcessResult rotated_away = job_->Wait();
  EXPECT_TRUE(rotated_away.Exited(kExitWrongKey)) << rotated_away.Describe();
  // The listener's line, then the one error line.
  ASSERT_EQ(rotated_away.StderrLines().size(), 2u) << rotated_away.Describe();
  EXPECT_EQ(rotated_away.StderrLines()[1].rfind("udmg-server: error: this node's "
                                                "UDMG_SECURITY_PASSPHRASE_KEY is root key version 1",
                                                0),
            0u)
      << rotated_away.Describe();
  server_.set_root_key(new_key);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(JobHttpTest);
UDMG_INSTANTIATE_FOR_ALL_BACKENDS(SweepHttpTest);

// Control answers 503 before the job is attached (here: it waits for a write lock the test
// holds) and after it ended (here: it waits on a push to a Pushgateway that never answers).
// SQLite only: the lock is taken with Python's sqlite3.
TEST(JobHttpLifecycleTest, ControlIsUnavailableBeforeTheJobStartsAndAfterItEnds) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemoAndRotate(server, 50));
  BusyPort gateway;
  ASSERT_GT(gateway.port(), 0);
  std::unique_ptr<BackgroundProcess> job;
  int port = -1;
  auto expect_unavailable = [&](const std::string& why) {
    for (bool post : {false, true}) {
      std::optional<HttpResponse> reply =
          post ? HttpPost(port, "/control/pause") : HttpGet(port, "/control/status");
      ASSERT_TRUE(reply.has_value());
      EXPECT_EQ(reply->status, 503) << reply->body;
      EXPECT_NE(reply->body.find(why), std::string::npos) << reply->body;
    }
  };
  {
    SqliteWriteLock lock(server.database());
    job = server.Start({"reencrypt", "--no-progress", "--metrics-listen", "127.0.0.1:0",
                        "--metrics-linger", "0",
                        "--pushgateway", "http://127.0.0.1:" + std::to_string(gateway.port())});
    port = ListenPort(*job);
    ASSERT_GT(port, 0) << job->Wait().Describe();
    expect_unavailable("the job is not running yet");
  }
  ASSERT_TRUE(PollUntil([&] {
    std::optional<HttpResponse> reply = HttpGet(port, "/control/status");
    return reply && reply->body.find("has ended") != std::string::npos;
  })) << job->Wait().Describe();
  expect_unavailable("the job has ended");
  gateway.Close();  // the push fails now: a warning, the job's exit code stands
  ProcessResult result = job->Wait();
  EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
  EXPECT_NE(result.stderr_data.find("the push to the Pushgateway failed"), std::string::npos)
      << result.Describe();
}

// A real Prometheus 2.42 scrapes the running job every second. The database plays no part
// here: SQLite only.
class PrometheusScrapeTest : public JobHttpTest {
 protected:
  // Starts Prometheus scraping the job's listener (port_) every second.
  void StartPrometheus() {
    prometheus_port_ = metrics::testing::FreePort();
    metrics::testing::WriteFile(prometheus_dir_.File("prometheus.yml"),
                                "global:\n  scrape_interval: 1s\n"
                                "scrape_configs:\n  - job_name: udmg\n    honor_labels: true\n"
                                "    static_configs:\n      - targets: ['127.0.0.1:" +
                                    std::to_string(port_) + "']\n");
    prometheus_ = metrics::testing::ChildProcess::Start(
        {metrics::testing::kPrometheus,
         "--config.file=" + prometheus_dir_.File("prometheus.yml"),
         "--storage.tsdb.path=" + prometheus_dir_.File("data"),
         "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_)},
        prometheus_dir_.File("prometheus.log"));
    ASSERT_NE(prometheus_, nullptr);
  }

  // The value Prometheus holds now for `query` (PromQL, URL-encoded), when it has one.
  std::optional<double> Query(const std::string& query) {
    std::optional<HttpResponse> reply =
        HttpGet(prometheus_port_, "/api/v1/query?query=" + query);
    if (!reply || reply->status != 200) return std::nullopt;
    nlohmann::json answer = nlohmann::json::parse(reply->body, nullptr, false);
    if (!answer.is_object() || answer["data"]["result"].empty()) return std::nullopt;
    return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
  }

  TempDir prometheus_dir_;
  int prometheus_port_ = -1;
  std::unique_ptr<metrics::testing::ChildProcess> prometheus_;
};

TEST_F(PrometheusScrapeTest, QueryApiSeesTheRowsCounterRise) {
  UDMG_REQUIRE_TOOL(metrics::testing::kPrometheus);
  ASSERT_NO_FATAL_FAILURE(StartJob("300"));
  ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  const std::string migrated =
      "sum%28udmg_reencrypt_rows_total%7Bresult%3D%22migrated%22%7D%29";
  std::optional<double> first;
  ASSERT_TRUE(PollUntil([&] { return (first = Query(migrated)).has_value(); },
                        std::chrono::seconds(90)))
      << prometheus_->Log();
  EXPECT_TRUE(PollUntil([&] {
    std::optional<double> now = Query(migrated);
    return now && *now > *first;
  }, std::chrono::seconds(90))) << "Prometheus never saw the counter rise from " << *first;
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

// The values per master version move as batches commit (Prometheus sees a count on the new
// version that is neither the start, 0, nor the end), and after the job the listener lingers:
// Prometheus sees the job `done` with every value on the new version. SIGTERM then ends the
// linger at once, and the job's exit code stands.
TEST_F(PrometheusScrapeTest, SeesValuesMoveDuringTheJobAndItsDoneStateAfterIt) {
  UDMG_REQUIRE_TOOL(metrics::testing::kPrometheus);
  ASSERT_NO_FATAL_FAILURE(StartJob("200", "10m"));
  ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  const std::string on_new_version =
      "udmg_key_values%7Bcolumn%3D%22credentials.secret%22%2Cversion%3D%222%22%7D";
  std::optional<double> between;
  ASSERT_TRUE(PollUntil([&] {
    between = Query(on_new_version);
    return between && *between > 0 && *between < kRows;
  }, std::chrono::seconds(90)))
      << "Prometheus saw no intermediate count; last " << between.value_or(-1) << "\n"
      << prometheus_->Log();

  std::optional<HttpResponse> unlimited = HttpPost(port_, "/control/rate?value=0");
  ASSERT_TRUE(unlimited.has_value());
  ASSERT_TRUE(PollUntil([&] {
    return ReadFile(job_->stderr_path()).find("metrics: the job has ended") != std::string::npos;
  })) << job_->Wait().Describe();
  const std::string done =
      "udmg_reencrypt_job_state%7Bjob%3D%22reencrypt%22%2Cstate%3D%22done%22%7D";
  EXPECT_TRUE(PollUntil([&] { return Query(done) == 1.0; }, std::chrono::seconds(90)))
      << prometheus_->Log();
  EXPECT_TRUE(PollUntil([&] { return Query(on_new_version) == double{kRows}; },
                        std::chrono::seconds(90)));
  EXPECT_TRUE(job_->Running()) << "the listener did not linger";

  ASSERT_TRUE(job_->Kill(SIGTERM));
  ProcessResult result = job_->Wait();
  EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
  ExpectDemoValuesMigrated(server_, kRows);
}

}  // namespace
}  // namespace udmg::testing
