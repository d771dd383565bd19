// Live control: command parsing and execution (no I/O), then the Unix socket transport end to end
// (server thread, client function, permissions, stale and busy paths, clean removal).
#include "pipeline/control.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/temp_dir.h"

namespace udmg::pipeline {
namespace {

using nlohmann::json;
using ::udmg::testing::TempDir;

std::unique_ptr<Throttle> MakeThrottle(Clock& clock, ThrottleOptions options = {}) {
  auto throttle = Throttle::Create(options, clock);
  EXPECT_TRUE(throttle.ok());
  return std::move(throttle).value();
}

// The address of the Unix socket at `path`.
sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

// Sends raw bytes on a new connection and reads until the server closes or `lines` arrived.
std::string RawExchange(const std::string& path, const std::string& bytes, int lines) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address = UnixAddress(path);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::string reply;
  char chunk[256];
  while (std::count(reply.begin(), reply.end(), '\n') < lines) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    reply.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

// ---- Parsing ---------------------------------------------------------------------------------

TEST(ParseControlCommandTest, Verbs) {
  auto status = ParseControlCommand("status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->verb, ControlVerb::kStatus);
  EXPECT_EQ(ParseControlCommand(" pause\r\n")->verb, ControlVerb::kPause);
  EXPECT_EQ(ParseControlCommand("resume")->verb, ControlVerb::kResume);
  auto rate = ParseControlCommand("rate");
  ASSERT_TRUE(rate.ok());
  EXPECT_EQ(rate->verb, ControlVerb::kRate);
  EXPECT_FALSE(rate->rate);  // bare: show, never set
  auto batch = ParseControlCommand("batch-size");
  ASSERT_TRUE(batch.ok());
  EXPECT_FALSE(batch->batch_size);
}

TEST(ParseControlCommandTest, Values) {
  auto rate = ParseControlCommand("rate=500");
  ASSERT_TRUE(rate.ok());
  EXPECT_EQ(*rate->rate, 500);
  EXPECT_EQ(*ParseControlCommand("rate = 2.5")->rate, 2.5);
  EXPECT_EQ(*ParseControlCommand("rate=0")->rate, 0);
  auto batch = ParseControlCommand("batch-size=2000");
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(*batch->batch_size, 2000u);
}

TEST(ParseControlCommandTest, BadCommandsGetOneLineErrors) {
  for (const char* bad : {"", "   ", "stop", "RATE", "rate=", "rate=abc", "rate=-1", "rate=inf",
                          "rate=nan", "rate=5x", "batch-size=0", "batch-size=1.5",
                          "batch-size=-3", "batch-size=99999999999", "pause=1", "status=now",
                          "resume=", "rate=1=2"}) {
    auto parsed = ParseControlCommand(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kBadInput) << bad;
    EXPECT_FALSE(parsed.error().message.empty());
    EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos) << bad;
  }
}

// ---- Execution -------------------------------------------------------------------------------

TEST(ControlCommandsTest, BareRateShowsAndNeverResets) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock, {.rows_per_second = 300});
  ControlCommands commands(*throttle, nullptr);
  EXPECT_EQ(json::parse(commands.Execute("rate")), json({{"ok", true}, {"rate", 300.0}}));
  EXPECT_EQ(json::parse(commands.Execute("rate=500")),
            json({{"ok", true}, {"rate", 500.0}, {"previous", 300.0}}));
  EXPECT_EQ(json::parse(commands.Execute("rate"))["rate"], 500.0);
  EXPECT_EQ(throttle->Stats().rows_per_second, 500);
}

TEST(ControlCommandsTest, BatchSizeShowsAndSets) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock, {.batch_size = 1000, .target_batch_time = std::chrono::milliseconds(100)});
  ControlCommands commands(*throttle, nullptr);
  EXPECT_EQ(json::parse(commands.Execute("batch-size")),
            json({{"ok", true}, {"batch_size", 1000}, {"adaptive", true}}));
  EXPECT_EQ(json::parse(commands.Execute("batch-size=2000")),
            json({{"ok", true}, {"batch_size", 2000}, {"adaptive", false}, {"previous", 1000}}));
  EXPECT_EQ(throttle->BatchSize(), 2000u);
}

TEST(ControlCommandsTest, PauseAndResume) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock);
  ControlCommands commands(*throttle, nullptr);
  EXPECT_EQ(commands.Execute("pause"), R"({"ok":true,"paused":true})");
  EXPECT_TRUE(throttle->Stats().paused);
  EXPECT_FALSE(throttle->TryAdmit(1).admitted);
  EXPECT_EQ(json::parse(commands.Execute("status"))["state"], "paused");
  EXPECT_EQ(commands.Execute("resume"), R"({"ok":true,"paused":false})");
  EXPECT_TRUE(throttle->TryAdmit(1).admitted);
}

TEST(ControlCommandsTest, StatusReportsProgressAndThrottle) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock, {.rows_per_second = 1000, .batch_size = 500});
  ProgressTracker tracker(clock, 10000);
  ControlCommands commands(*throttle, &tracker);
  clock.Advance(std::chrono::seconds(4));
  tracker.AddDone(2000);
  json status = json::parse(commands.Execute("status"));
  EXPECT_EQ(status["ok"], true);
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["done"], 2000);
  EXPECT_EQ(status["total"], 10000);
  EXPECT_EQ(status["rows_per_second"], 500.0);
  EXPECT_EQ(status["eta_seconds"], 16.0);
  EXPECT_EQ(status["rate"], 1000.0);
  EXPECT_EQ(status["batch_size"], 500);
  EXPECT_EQ(status["adaptive"], false);
  EXPECT_EQ(status["throttled_seconds"], json({{"rate", 0.0},
                                               {"latency", 0.0},
                                               {"paused", 0.0},
                                               {"pause_file", 0.0},
                                               {"replica_lag", 0.0}}));
  EXPECT_FALSE(status.contains("hold"));
}

// A gate that always holds, as a pause file that exists.
class HoldingGate final : public ThrottleGate {
 public:
  ThrottleReason reason() const override { return ThrottleReason::kPauseFile; }
  std::optional<std::string> Hold() override { return "pause file /p exists"; }
};

TEST(ControlCommandsTest, StatusNamesTheGateThatHoldsTheJob) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock);
  throttle->AddGate(std::make_unique<HoldingGate>());
  EXPECT_FALSE(throttle->TryAdmit(1).admitted);
  ControlCommands commands(*throttle, nullptr);
  json status = json::parse(commands.Execute("status"));
  EXPECT_EQ(status["state"], "pause_file");
  EXPECT_EQ(status["hold"], "pause file /p exists");
}

TEST(ControlCommandsTest, ErrorsAreOneJsonLineAndChangeNothing) {
  ManualClock clock;
  auto throttle = MakeThrottle(clock, {.rows_per_second = 42});
  ControlCommands commands(*throttle, nullptr);
  for (const char* bad : {"rate=-5", "frobnicate", "pause=now", "batch-size=0"}) {
    std::string reply = commands.Execute(bad);
    EXPECT_EQ(reply.find('\n'), std::string::npos);
    json parsed = json::parse(reply);
    EXPECT_EQ(parsed["ok"], false);
    EXPECT_TRUE(parsed["error"].is_string());
  }
  EXPECT_EQ(throttle->Stats().rows_per_second, 42);
  EXPECT_FALSE(throttle->Stats().paused);
}

// ---- Socket path -----------------------------------------------------------------------------

TEST(DefaultControlSocketPathTest, NextToTheSqliteFile) {
  EXPECT_EQ(DefaultControlSocketPath("sqlite:/var/lib/udmg/udmg.db"), "/var/lib/udmg/udmg.db.control");
  std::string relative = DefaultControlSocketPath("sqlite:udmg.db");
  EXPECT_EQ(relative, (std::filesystem::current_path() / "udmg.db.control").string());
}

TEST(DefaultControlSocketPathTest, RuntimeDirOrTmpWhenNoFileOrTooLong) {
  std::string long_path = "sqlite:/" + std::string(120, 'd') + "/udmg.db";
  const char* saved = getenv("XDG_RUNTIME_DIR");
  std::string saved_value = saved ? saved : "";
  setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  std::string in_runtime = DefaultControlSocketPath(long_path);
  EXPECT_EQ(in_runtime.rfind("/run/user/1234/udmg-control-", 0), 0u);
  unsetenv("XDG_RUNTIME_DIR");
  std::string a = DefaultControlSocketPath("postgresql://u@db1/udmg");
  std::string b = DefaultControlSocketPath("postgresql://u@db2/udmg");
  if (saved) setenv("XDG_RUNTIME_DIR", saved_value.c_str(), 1);
  std::string tmp_dir = "/tmp/udmg-" + std::to_string(geteuid()) + "/control-";
  EXPECT_EQ(a.rfind(tmp_dir, 0), 0u);
  EXPECT_NE(a, b);  // one socket per database
  EXPECT_EQ(a, DefaultControlSocketPath("postgresql://u@db1/udmg"));
  EXPECT_LE(a.size(), kMaxSocketPathLength);
}

// ---- Socket server and client ------------------------------------------------------------------

// A directory for the socket, and commands over a throttle on a manual clock for a server to serve.
class ControlServerTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Throttle> throttle_ = MakeThrottle(clock_);
  ControlCommands commands_{*throttle_, nullptr};
};

TEST_F(ControlServerTest, ServesCommandsOverAPrivateSocketAndRemovesIt) {
  ProgressTracker tracker(clock_, 100);
  ControlCommands commands(*throttle_, &tracker);
  std::string path = dir_.File("job.control");
  auto server = ControlServer::Start(path, commands);
  ASSERT_TRUE(server.ok()) << server.error().message;

  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto reply = SendControlCommand(path, "rate=500");
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(json::parse(*reply)["rate"], 500.0);
  EXPECT_EQ(throttle_->Stats().rows_per_second, 500);
  auto shown = SendControlCommand(path, "rate");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(json::parse(*shown), json({{"ok", true}, {"rate", 500.0}}));
  ASSERT_TRUE(SendControlCommand(path, "pause").ok());
  EXPECT_TRUE(throttle_->Stats().paused);
  auto status = SendControlCommand(path, "status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(json::parse(*status)["state"], "paused");

  auto refused = SendControlCommand(path, "rate=fast");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kBadInput);
  EXPECT_NE(refused.error().message.find("bad rate"), std::string::npos);
  EXPECT_EQ(throttle_->Stats().rows_per_second, 500);
  EXPECT_EQ((*server)->commands_served(), 5u);

  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path));
  auto gone = SendControlCommand(path, "status");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(ControlServerTest, SeveralLinesOnOneConnectionGetOneReplyEach) {
  auto throttle = MakeThrottle(clock_, {.batch_size = 10});
  ControlCommands commands(*throttle, nullptr);
  auto server = ControlServer::Start(dir_.File("c"), commands);
  ASSERT_TRUE(server.ok());
  std::string replies = RawExchange(dir_.File("c"), "batch-size=20\nbatch-size\nnope\n", 3);
  EXPECT_EQ(replies,
            R"({"adaptive":false,"batch_size":20,"ok":true,"previous":10})" "\n"
            R"({"adaptive":false,"batch_size":20,"ok":true})" "\n"
            R"({"error":"unknown command 'nope': send status, pause, resume, rate, rate=N, batch-size or batch-size=N","ok":false})" "\n");
}

TEST_F(ControlServerTest, OverlongLineIsRefused) {
  auto server = ControlServer::Start(dir_.File("c"), commands_);
  ASSERT_TRUE(server.ok());
  std::string reply = RawExchange(dir_.File("c"), std::string(5000, 'x'), 1);
  EXPECT_EQ(json::parse(reply)["ok"], false);
}

TEST_F(ControlServerTest, SecondServerOnALivePathIsAConflict) {
  auto first = ControlServer::Start(dir_.File("c"), commands_);
  ASSERT_TRUE(first.ok());
  auto second = ControlServer::Start(dir_.File("c"), commands_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(SendControlCommand(dir_.File("c"), "status").ok());  // the first still answers
}

TEST_F(ControlServerTest, StaleSocketOfAKilledJobIsReplaced) {
  std::string path = dir_.File("c");
  {  // a socket file nobody listens on any more, as after kill -9
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address = UnixAddress(path);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    close(fd);
  }
  auto server = ControlServer::Start(path, commands_);
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_TRUE(SendControlCommand(path, "status").ok());
}

TEST_F(ControlServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  std::string path = dir_.File("data");
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fputs("keep me", f); std::fclose(f); }
  auto server = ControlServer::Start(path, commands_);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().code, ErrorCode::kConflict);
  EXPECT_EQ(std::filesystem::file_size(path), 7u);
}

TEST_F(ControlServerTest, BadPaths) {
  auto too_long = ControlServer::Start("/tmp/" + std::string(200, 'x'), commands_);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, ErrorCode::kBadInput);
  auto no_dir = ControlServer::Start("/nonexistent-udmg-dir/c", commands_);
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.error().message.find('\n'), std::string::npos);
  auto multi_line = SendControlCommand("/tmp/whatever", "rate\npause");
  ASSERT_FALSE(multi_line.ok());
  EXPECT_EQ(multi_line.error().code, ErrorCode::kBadInput);
}

TEST_F(ControlServerTest, DefaultTmpDirectoryIsCreatedPrivate) {
  std::string dir = "/tmp/udmg-" + std::to_string(geteuid());
  std::string path = dir + "/control-test-" + std::to_string(getpid()) + ".sock";
  auto server = ControlServer::Start(path, commands_);
  ASSERT_TRUE(server.ok()) << server.error().message;
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path));
  rmdir(dir.c_str());  // only if empty: other jobs of this user may use it
}

}  // namespace
}  // namespace udmg::pipeline
