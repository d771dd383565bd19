// The runner library itself, with /bin/sh as the child: what the e2e tests rely on must hold.
#include "tests/e2e/cli_runner.h"

#include <signal.h>
#include <stdlib.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace udmg::testing {
namespace {

Invocation Shell(const std::string& script) {
  return {.program = "/bin/sh", .args = {"-c", script}};
}

TEST(CliRunnerTest, CapturesStdoutStderrAndExitCode) {
  ProcessResult result = RunProcess(Shell("printf 'out\\0put'; printf 'err\\n' >&2; exit 7"));
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.term_signal, 0);
  EXPECT_EQ(result.stdout_data, std::string("out\0put", 7));
  EXPECT_EQ(result.StderrLines(), std::vector<std::string>{"err"});
}

TEST(CliRunnerTest, FeedsStdinBytesExactly) {
  Invocation invocation = Shell("cat");
  invocation.stdin_data = std::string("a\0b\n\n", 5);
  EXPECT_EQ(RunProcess(invocation).stdout_data, invocation.stdin_data);
}

TEST(CliRunnerTest, NeverInheritsTheTestEnvironment) {
  setenv("UDMG_SECURITY_PASSPHRASE_KEY", "inherited-from-the-test", 1);
  setenv("UDMG_DATABASE_URL", "sqlite:inherited.db", 1);
  Invocation invocation = Shell("env");
  invocation.env["CHOSEN"] = "yes";
  ProcessResult result = RunProcess(invocation);
  unsetenv("UDMG_SECURITY_PASSPHRASE_KEY");
  unsetenv("UDMG_DATABASE_URL");
  EXPECT_EQ(result.stdout_data.find("UDMG_"), std::string::npos) << result.stdout_data;
  EXPECT_NE(result.stdout_data.find("CHOSEN=yes\n"), std::string::npos) << result.stdout_data;
  EXPECT_NE(result.stdout_data.find("PATH="), std::string::npos) << result.stdout_data;
}

TEST(CliRunnerTest, RunsInTheGivenWorkingDirectory) {
  TempDir dir;
  Invocation invocation = Shell("pwd");
  invocation.working_dir = dir.path();
  EXPECT_EQ(RunProcess(invocation).stdout_data,
            std::filesystem::canonical(dir.path()).string() + "\n");
}

// A stand-in named udmg-server (a shell script) that prints what it is told to: the runner must
// fail the test whenever a key it was given shows in the output, in any of its forms.
class KeyLeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFile(program_, "#!/bin/sh\nprintf '%s\\n' \"$LEAK\"\n",
                          std::filesystem::perms::owner_all));
  }
  // Runs the stand-in with K0 in its environment, `args` and `stdin_data`; it prints `leak`.
  ProcessResult Run(const std::string& leak, std::vector<std::string> args = {},
                    std::string stdin_data = "") {
    Invocation invocation{.program = program_, .args = std::move(args),
                          .stdin_data = std::move(stdin_data)};
    invocation.env = {{"UDMG_SECURITY_PASSPHRASE_KEY", kK0}, {"LEAK", leak}};
    return RunProcess(invocation);
  }

  static constexpr char kK0[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  TempDir dir_;
  std::filesystem::path program_ = dir_.path() / "udmg-server";
};

TEST_F(KeyLeakTest, AnOutputWithoutKeysPasses) {
  EXPECT_TRUE(Run("fingerprint 0123456789abcdef0123456789abcdef").Exited(0));
}

TEST_F(KeyLeakTest, TheRootKeyInAnyFormFails) {
  EXPECT_NONFATAL_FAILURE(Run(kK0), "appears on its stdout");
  EXPECT_NONFATAL_FAILURE(Run("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"),
                          "appears on its stdout");
  // Python: base64.urlsafe_b64encode(bytes(range(32))), the Fernet key of this K0.
  EXPECT_NONFATAL_FAILURE(Run("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
                          "appears on its stdout");
}

TEST_F(KeyLeakTest, ANewKeyFromTheArgumentAFileOrStdinFails) {
  const std::string key(64, 'c');
  EXPECT_NONFATAL_FAILURE(Run(key, {"rotate-k0", "--new-key", key}), "--new-key <key>");
  ASSERT_TRUE(WriteFile(dir_.path() / "new.key", key + "\n"));
  EXPECT_NONFATAL_FAILURE(
      Run(key, {"rotate-k0", "--new-key-file", (dir_.path() / "new.key").string()}),
      "appears on its stdout");
  EXPECT_NONFATAL_FAILURE(Run(key, {"rotate-k0", "--new-key", "-"}, key + "\n"),
                          "appears on its stdout");
}

TEST(CliRunnerTest, ReportsAMissingProgram) {
  ProcessResult result = RunProcess({.program = "/nonexistent/udmg-server"});
  EXPECT_FALSE(result.start_error.empty());
  EXPECT_EQ(result.exit_code, -1);
}

TEST(CliRunnerTest, KillsABackgroundProcessWithASignal) {
  auto process = BackgroundProcess::Start(Shell("echo started; exec sleep 300"));
  ASSERT_GT(process->pid(), 0);
  ASSERT_TRUE(process->Kill(SIGKILL));
  ProcessResult result = process->Wait();
  EXPECT_EQ(result.term_signal, SIGKILL);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(process->Kill(SIGKILL)) << "a reaped process cannot be signalled";
  EXPECT_FALSE(process->Running());
}

TEST(CliRunnerTest, RunningTurnsFalseWhenTheChildEndsAndWaitStillReports) {
  StartGate gate;
  auto process = BackgroundProcess::Start(Shell("exit 3"), &gate);
  EXPECT_TRUE(process->Running()) << "held at the gate, it cannot have ended";
  gate.Open();
  while (process->Running()) std::this_thread::yield();
  EXPECT_EQ(process->Wait().exit_code, 3);
}

TEST(CliRunnerTest, GateHoldsChildrenUntilOpened) {
  TempDir dir;
  const std::filesystem::path marker = dir.path() / "ran";
  StartGate gate;
  auto first = BackgroundProcess::Start(Shell("echo one >> " + marker.string()), &gate);
  auto second = BackgroundProcess::Start(Shell("echo two >> " + marker.string()), &gate);
  // Held children cannot have run: both are still blocked before exec. (No sleep needed: the
  // marker can only exist once the gate opens.)
  EXPECT_FALSE(std::filesystem::exists(marker));
  gate.Open();
  EXPECT_EQ(first->Wait().exit_code, 0);
  EXPECT_EQ(second->Wait().exit_code, 0);
  EXPECT_EQ(ReadFile(marker).size(), 8u);
}

TEST(CliRunnerTest, RandomKeysAreFreshLowercaseHex) {
  const std::string a = RandomKeyHex();
  const std::string b = RandomKeyHex();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(CliRunnerTest, SqliteDumpSeesEveryChange) {
  TempDir dir;
  const auto db = dir.path() / "t.db";
  SqliteExec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');");
  const std::string before = SqliteDump(db);
  EXPECT_NE(before.find("INSERT INTO t VALUES(1,'a');"), std::string::npos) << before;
  EXPECT_EQ(SqliteDump(db), before) << "a dump must be deterministic";
  EXPECT_EQ(SqliteExec(db, "SELECT v FROM t WHERE id = 1;"), "a\n");
  SqliteExec(db, "UPDATE t SET v = 'b' WHERE id = 1;");
  EXPECT_NE(SqliteDump(db), before);
}

}  // namespace
}  // namespace udmg::testing
