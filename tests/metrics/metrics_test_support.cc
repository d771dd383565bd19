#include "tests/metrics/metrics_test_support.h"

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/temp_dir.h"

namespace udmg::metrics::testing {
namespace {

std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const std::string& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// In the child after fork: stdin from `in_path` (or /dev/null), stdout+stderr to `out_path`.
[[noreturn]] void ExecChild(const std::vector<std::string>& argv, const std::string& in_path,
                            const std::string& out_path) {
  const int in = open(in_path.empty() ? "/dev/null" : in_path.c_str(), O_RDONLY);
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0) _exit(126);
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  std::vector<char*> pointers = ArgvPointers(argv);
  execv(pointers[0], pointers.data());
  _exit(127);
}

}  // namespace

std::string MissingToolReason(const std::string& binary) {
  if (access(binary.c_str(), X_OK) == 0) return "";
  return binary + " is not installed (apt-get install prometheus prometheus-pushgateway "
                  "prometheus-node-exporter)";
}

bool MetricsToolsRequired() {
  const char* value = std::getenv("UDMG_REQUIRE_METRICS_TOOLS");
  return value != nullptr && std::string(value) == "1";
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input) {
  ::udmg::testing::TempDir dir;
  const std::string in_path = dir.File("stdin");
  const std::string out_path = dir.File("output");
  WriteFile(in_path, input);
  const pid_t pid = fork();
  if (pid == 0) ExecChild(argv, in_path, out_path);
  CommandResult result;
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.output = ReadFile(out_path);
  return result;
}

CommandResult PromtoolCheckMetrics(const std::string& exposition) {
  return RunCommand({kPromtool, "check", "metrics"}, exposition);
}

void ExpectPromtoolAccepts(const std::string& exposition) {
  const std::string missing = MissingToolReason(kPromtool);
  if (!missing.empty()) {
    EXPECT_FALSE(MetricsToolsRequired()) << missing;
    return;
  }
  const CommandResult check = PromtoolCheckMetrics(exposition);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << exposition;
}

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                  const std::string& log_path) {
  const pid_t pid = fork();
  if (pid == 0) ExecChild(argv, "", log_path);
  if (pid < 0) return nullptr;
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

ChildProcess::~ChildProcess() {
  if (!Running()) return;
  kill(pid_, SIGTERM);
  const bool stopped = PollUntil([this] { return !Running(); }, std::chrono::seconds(10));
  if (!stopped) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ChildProcess::Log() const { return ReadFile(log_path_); }

bool PollUntil(const std::function<bool()>& condition, std::chrono::seconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<HttpResponse> HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  httplib::Result result = client.Get(path);
  if (!result) return std::nullopt;
  return HttpResponse{result->status, result->get_header_value("Content-Type"), result->body};
}

}  // namespace udmg::metrics::testing
