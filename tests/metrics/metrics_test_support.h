// Helpers for the metrics tests: free ports, child processes (promtool, prometheus,
// node_exporter, pushgateway), and the rule for missing tool binaries. Temp directories:
// tests/support/temp_dir.h.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace udmg::metrics::testing {

inline constexpr char kPromtool[] = "/usr/bin/promtool";
inline constexpr char kPrometheus[] = "/usr/bin/prometheus";
inline constexpr char kNodeExporter[] = "/usr/bin/prometheus-node-exporter";
inline constexpr char kPushgateway[] = "/usr/bin/prometheus-pushgateway";

// Empty when `binary` is executable; otherwise why not. With UDMG_REQUIRE_METRICS_TOOLS=1 a
// missing tool fails the test, otherwise it is skipped (UDMG_REQUIRE_TOOL below).
std::string MissingToolReason(const std::string& binary);
bool MetricsToolsRequired();

#define UDMG_REQUIRE_TOOL(binary)                                                         \
  do {                                                                                    \
    const std::string udmg_missing_ = ::udmg::metrics::testing::MissingToolReason(binary); \
    if (!udmg_missing_.empty()) {                                                         \
      if (::udmg::metrics::testing::MetricsToolsRequired()) FAIL() << udmg_missing_;      \
      GTEST_SKIP() << udmg_missing_;                                                      \
    }                                                                                     \
  } while (0)

// A port on 127.0.0.1 free at the time of the call (bind port 0, read it, close).
int FreePort();

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `argv` to completion with `input` on stdin.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input);

// `promtool check metrics` on `exposition` (exit code 0 = valid and lint-clean).
CommandResult PromtoolCheckMetrics(const std::string& exposition);

// Expects `promtool check metrics` to accept `exposition`. A missing promtool fails the test under
// UDMG_REQUIRE_METRICS_TOOLS=1 and otherwise leaves this one check out.
void ExpectPromtoolAccepts(const std::string& exposition);

// A server binary running in the background, output in `log_path`; killed (SIGTERM, then
// SIGKILL) and reaped on destruction, so a failing test still stops it.
class ChildProcess {
 public:
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  bool Running();
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
};

// Calls `condition` every 100 ms until it is true or `deadline` passed. True when it became true.
bool PollUntil(const std::function<bool()>& condition,
               std::chrono::seconds deadline = std::chrono::seconds(60));

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};
// GET http://127.0.0.1:PORT/PATH; nullopt when the connection fails.
std::optional<HttpResponse> HttpGet(int port, const std::string& path);

}  // namespace udmg::metrics::testing
