// The Prometheus tools the artifact tests run: promtool (check rules, test rules) and a real
// Prometheus 2.42 server on a free loopback port with an empty TSDB, whose query API tells valid
// PromQL from invalid.
//
// Tools missing: the test is skipped, or fails when UDMG_REQUIRE_METRICS_TOOLS=1 (CI sets it, so a
// CI image without them cannot pass silently) — see UDMG_REQUIRE_METRICS_TOOL.
//
// Thread-safety: a PrometheusServer is used from one thread at a time.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/e2e/cli_runner.h"

namespace udmg::testing {

// /usr/bin/<name> or /usr/local/bin/<name> when executable.
std::optional<std::filesystem::path> FindMetricsTool(const std::string& name);
// True when UDMG_REQUIRE_METRICS_TOOLS=1: a missing tool is a failure, not a skip.
bool MetricsToolsRequired();

// Sets `path_var` (a std::filesystem::path) to the tool, or skips / fails the running test.
#define UDMG_REQUIRE_METRICS_TOOL(path_var, name)                                              \
  do {                                                                                         \
    auto found_tool = ::udmg::testing::FindMetricsTool(name);                                  \
    if (!found_tool) {                                                                         \
      if (::udmg::testing::MetricsToolsRequired()) {                                           \
        FAIL() << name << " is not installed (UDMG_REQUIRE_METRICS_TOOLS=1): apt-get install " \
               << "prometheus";                                                                \
      }                                                                                        \
      GTEST_SKIP() << name << " is not installed: apt-get install prometheus";                 \
    }                                                                                          \
    path_var = *found_tool;                                                                    \
  } while (0)

// `promtool <args...>` in `working_dir`.
ProcessResult RunPromtool(const std::filesystem::path& promtool, std::vector<std::string> args,
                          const std::filesystem::path& working_dir = {});

// What /api/v1/query answered.
struct QueryResult {
  bool success = false;  // HTTP 200 and "status":"success"
  std::string error;     // Prometheus' error (errorType: error), or why there was no answer
};

class PrometheusServer {
 public:
  // Starts `binary` with an empty config and TSDB in a temp dir, on 127.0.0.1:<free port>, and
  // waits until /-/ready answers. Null with `error` set when it does not come up.
  static std::unique_ptr<PrometheusServer> Start(const std::filesystem::path& binary,
                                                 std::string* error);
  ~PrometheusServer();  // SIGTERM, wait, then the temp dir goes
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // GET /api/v1/query?query=<expr> (an instant query at "now").
  QueryResult Query(std::string_view expr) const;
  int port() const { return port_; }

 private:
  PrometheusServer() = default;
  std::unique_ptr<TempDir> dir_;  // destroyed after process_: Prometheus stops before its TSDB goes
  std::unique_ptr<BackgroundProcess> process_;
  int port_ = 0;
};

}  // namespace udmg::testing
