// The job's HTTP listener against careless and hostile clients, through the real binary: slow
// clients holding connections do not block /metrics, a request head that never ends is cut, a
// huge body is refused without being read, a cross-site form post cannot steer the job, an
// optional bearer token guards the control routes, and the printed URL names the address really
// bound. Waits are on observable events (a reply, a closed connection) with generous deadlines.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_helpers.h"
#include "tests/metrics/e2e/metrics_e2e_support.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 3000;
constexpr char kToken[] = "0123456789abcdef-control-token";
const std::multimap<std::string, std::string> kControl = {{"X-Udmg-Control", "1"}};

// A TCP connection to 127.0.0.1:port, closed on destruction.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 &&
                 connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool Send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  // Everything the server sends until it closes the connection (or `deadline` passes: then
  // `closed` stays false).
  std::string ReadUntilClosed(bool& closed, std::chrono::seconds deadline) {
    std::string data;
    closed = false;
    const auto until = std::chrono::steady_clock::now() + deadline;
    do {  // at least one look, also with a zero deadline
      pollfd ready{fd_, POLLIN, 0};
      if (poll(&ready, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t got = recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        closed = true;
        break;
      }
      data.append(buffer, static_cast<size_t>(got));
    } while (std::chrono::steady_clock::now() < until);
    return data;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class ListenerGuardTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemoAndRotate(server_, kRows)); }

  // A job slow enough to be observed (10 rows/s), listening on `listen`; returns once the job
  // is attached to its listener (its rate shows in a scrape). `url_` is the printed URL.
  void StartJob(std::vector<std::string> extra = {}, const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> args = {"reencrypt", "--no-progress", "--rate", "10",
                                     "--batch-size", "10", "--metrics-listen", listen,
                                     "--metrics-linger", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    job_ = server_.Start(args);
    url_ = ListenUrl(*job_);
    ASSERT_FALSE(url_.empty()) << job_->Wait().Describe();
    const size_t colon = url_.rfind(':');
    port_ = std::stoi(url_.substr(colon + 1));
    ASSERT_TRUE(PollUntil([&] { return Rate() == 10.0; })) << "the job never attached";
  }

  double Rate() {
    std::optional<HttpResponse> reply = HttpGet(port_, "/metrics");
    if (!reply || reply->status != 200) return -1;
    return SampleValue(reply->body, R"(udmg_reencrypt_throttle_rows_per_second{job="reencrypt"})")
        .value_or(-1);
  }

  // Lifts the rate limit and expects the job to finish with every value migrated.
  void FinishJob(std::multimap<std::string, std::string> headers = kControl) {
    std::optional<HttpResponse> unlimited = HttpPost(port_, "/control/rate?value=0", headers);
    ASSERT_TRUE(unlimited.has_value());
    EXPECT_EQ(unlimited->status, 200) << unlimited->body;
    ProcessResult result = job_->Wait();
    EXPECT_TRUE(result.Exited(kExitOk)) << result.Describe();
    EXPECT_EQ((result.stdout_data + result.stderr_data).find(kToken), std::string::npos);
    ExpectDemoValuesMigrated(server_, kRows);
  }

  std::unique_ptr<BackgroundProcess> job_;
  std::string url_;
  int port_ = -1;
};

TEST_P(ListenerGuardTest, TwentySlowClientsDoNotBlockScrapesOrControl) {
  ASSERT_NO_FATAL_FAILURE(StartJob());
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /metrics HTTP/1.1\r\nHost: slow\r\n"));  // never ends
  }
  // Each answers within the client's own read timeout while the twenty are held.
  for (int i = 0; i < 3; ++i) {
    std::optional<HttpResponse> scrape = HttpGet(port_, "/metrics");
    ASSERT_TRUE(scrape.has_value()) << "a scrape got no answer while slow clients were connected";
    EXPECT_EQ(scrape->status, 200);
    EXPECT_GT(Rate(), 0);
  }
  std::optional<HttpResponse> status = HttpGet(port_, "/control/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, 200);
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

TEST_P(ListenerGuardTest, AHeadThatNeverEndsIsCut) {
  ASSERT_NO_FATAL_FAILURE(StartJob());
  // One header byte every 200 ms keeps any per-read timeout from firing: only a bound on the
  // whole head ends it. The server closes it (with 408) while the trickle goes on.
  RawConnection trickle(port_);
  ASSERT_TRUE(trickle.connected());
  ASSERT_TRUE(trickle.Send("GET /metrics HTTP/1.1\r\nX-Slow: "));
  bool closed = false;
  std::string reply;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    if (!trickle.Send("a")) break;  // the server is gone from this connection
    reply += trickle.ReadUntilClosed(closed, std::chrono::seconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the trickle's pace
  }
  reply += trickle.ReadUntilClosed(closed, std::chrono::seconds(5));
  EXPECT_TRUE(closed) << "the server kept a never-ending request head open";
  EXPECT_EQ(reply.rfind("HTTP/1.1 408", 0), 0u) << reply;
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

TEST_P(ListenerGuardTest, AHugeBodyIsRefusedWithoutBeingRead) {
  ASSERT_NO_FATAL_FAILURE(StartJob());
  RawConnection huge(port_);
  ASSERT_TRUE(huge.connected());
  ASSERT_TRUE(huge.Send("POST /control/rate?value=77 HTTP/1.1\r\nHost: x\r\nX-Udmg-Control: 1\r\n"
                        "Content-Length: 419430400\r\n\r\n0123456789"));
  bool closed = false;
  const std::string reply = huge.ReadUntilClosed(closed, std::chrono::seconds(60));
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_EQ(Rate(), 10.0) << "the refused request changed the rate";
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

TEST_P(ListenerGuardTest, ACrossSiteFormPostCannotSteerTheJob) {
  ASSERT_NO_FATAL_FAILURE(StartJob());
  // What a web page's <form method=post> sends: form-encoded, no custom header.
  RawConnection form(port_);
  ASSERT_TRUE(form.connected());
  ASSERT_TRUE(form.Send("POST /control/rate HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Content-Length: 7\r\n\r\nvalue=1"));
  bool closed = false;
  const std::string reply = form.ReadUntilClosed(closed, std::chrono::seconds(60));
  EXPECT_EQ(reply.rfind("HTTP/1.1 403", 0), 0u) << reply;
  std::optional<HttpResponse> pause = HttpPost(port_, "/control/pause", {});
  ASSERT_TRUE(pause.has_value());
  EXPECT_EQ(pause->status, 403) << pause->body;
  EXPECT_NE(pause->body.find("X-Udmg-Control"), std::string::npos) << pause->body;
  EXPECT_EQ(Rate(), 10.0) << "a form post changed the rate";
  std::optional<HttpResponse> allowed = HttpPost(port_, "/control/rate?value=20");
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(allowed->status, 200) << allowed->body;
  EXPECT_EQ(Rate(), 20.0);
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

TEST_P(ListenerGuardTest, AControlTokenFileGuardsTheControlRoutes) {
  const std::filesystem::path token_file = dir_.path() / "control.token";
  ASSERT_TRUE(WriteFile(token_file, std::string(kToken) + "\n"));
  ASSERT_NO_FATAL_FAILURE(StartJob({"--control-token-file", token_file.string()}));
  auto with = [](const std::string& authorization) {
    std::multimap<std::string, std::string> headers = kControl;
    headers.emplace("Authorization", authorization);
    return headers;
  };
  for (const auto& headers : {kControl, with("Bearer wrong-token"), with(kToken),
                              with(std::string("Bearer ") + kToken + "x")}) {
    std::optional<HttpResponse> refused = HttpPost(port_, "/control/rate?value=30", headers);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 401) << refused->body;
    EXPECT_EQ(refused->body.find(kToken), std::string::npos);
  }
  std::optional<HttpResponse> status = HttpGet(port_, "/control/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, 401) << "reading the job's control needs the token too";
  EXPECT_EQ(Rate(), 10.0) << "the metrics need no token; the refused requests changed nothing";
  ASSERT_NO_FATAL_FAILURE(FinishJob(with(std::string("Bearer ") + kToken)));
}

TEST_P(ListenerGuardTest, AControlTokenFileOthersCanReadIsRefusedBeforeAnythingChanges) {
  const std::filesystem::path token_file = dir_.path() / "control.token";
  ASSERT_TRUE(WriteFile(token_file, kToken,
                        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                            std::filesystem::perms::group_read |
                            std::filesystem::perms::others_read));
  const std::string before = server_.Dump();
  for (const std::string& file : {token_file.string(), std::string(kToken)}) {
    ProcessResult result = server_.Run({"reencrypt", "--no-progress", "--metrics-listen",
                                        "127.0.0.1:0", "--control-token-file", file});
    ExpectOneErrorLine(result, kExitBadInput);
    EXPECT_EQ((result.stdout_data + result.stderr_data).find(kToken), std::string::npos)
        << result.Describe();
  }
  ProcessResult alone = server_.Run(
      {"reencrypt", "--no-progress", "--control-token-file", token_file.string()});
  ExpectOneErrorLine(alone, kExitUsage);
  ExpectDumpUnchanged(server_, before, "a refused --control-token-file");
}

TEST_P(ListenerGuardTest, ThePrintedUrlNamesTheAddressReallyBound) {
  ASSERT_NO_FATAL_FAILURE(StartJob({}, ":0"));
  EXPECT_EQ(url_.rfind("http://0.0.0.0:", 0), 0u)
      << "':PORT' listens on every IPv4 address; the line said " << url_;
  ASSERT_NO_FATAL_FAILURE(FinishJob());
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ListenerGuardTest);

}  // namespace
}  // namespace udmg::testing
