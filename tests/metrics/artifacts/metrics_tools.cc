#include "tests/metrics/artifacts/metrics_tools.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

// Safety net against a server that never comes up (not a timing assertion: a healthy one is ready
// in well under a second, and the loop ends as soon as it is).
constexpr auto kReadyDeadline = std::chrono::seconds(60);
constexpr int kStartAttempts = 3;  // a free port can be taken between probe and bind

// A port the kernel considers free on 127.0.0.1 now; 0 when none could be found.
int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool IsReady(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(1));
  auto response = client.Get("/-/ready");
  return response && response->status == 200;
}

}  // namespace

std::optional<fs::path> FindMetricsTool(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

bool MetricsToolsRequired() {
  const char* value = std::getenv("UDMG_REQUIRE_METRICS_TOOLS");
  return value != nullptr && std::string(value) == "1";
}

ProcessResult RunPromtool(const fs::path& promtool, std::vector<std::string> args,
                          const fs::path& working_dir) {
  return RunProcess({.program = promtool, .args = std::move(args), .working_dir = working_dir});
}

std::unique_ptr<PrometheusServer> PrometheusServer::Start(const fs::path& binary,
                                                          std::string* error) {
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    std::unique_ptr<PrometheusServer> server(new PrometheusServer());
    server->dir_ = std::make_unique<TempDir>();
    const fs::path& dir = server->dir_->path();
    if (!WriteFile(dir / "prometheus.yml", "global:\n  scrape_interval: 1m\n")) {
      *error = "cannot write " + (dir / "prometheus.yml").string();
      return nullptr;
    }
    server->port_ = FreeLoopbackPort();
    if (server->port_ == 0) {
      *error = "no free loopback port";
      return nullptr;
    }
    server->process_ = BackgroundProcess::Start(
        {.program = binary,
         .args = {"--config.file=" + (dir / "prometheus.yml").string(),
                  "--storage.tsdb.path=" + (dir / "data").string(),
                  "--web.listen-address=127.0.0.1:" + std::to_string(server->port_),
                  "--log.level=warn"},
         .working_dir = dir});
    const auto deadline = std::chrono::steady_clock::now() + kReadyDeadline;
    while (server->process_->Running() && std::chrono::steady_clock::now() < deadline) {
      if (IsReady(server->port_)) return server;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ProcessResult result = server->process_->Wait(std::chrono::seconds(10));
    *error = "prometheus did not become ready on 127.0.0.1:" + std::to_string(server->port_) +
             " (attempt " + std::to_string(attempt) + "): " + result.Describe();
  }
  return nullptr;
}

PrometheusServer::~PrometheusServer() {
  if (process_ && process_->Running()) {
    process_->Kill(SIGTERM);
    process_->Wait(std::chrono::seconds(30));  // SIGKILL after that, by Wait's watchdog
  }
}

QueryResult PrometheusServer::Query(std::string_view expr) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(std::chrono::seconds(30));
  httplib::Params params{{"query", std::string(expr)}};
  auto response = client.Get("/api/v1/query", params, httplib::Headers{});
  if (!response) return {false, "no HTTP answer: " + httplib::to_string(response.error())};
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return {false, "not JSON: " + response->body.substr(0, 200)};
  if (response->status == 200 && body.value("status", "") == "success") return {true, ""};
  return {false, body.value("errorType", "?") + ": " + body.value("error", response->body)};
}

}  // namespace udmg::testing
