// Exit codes of two failures that used to look like something else: a --rows count beyond what
// a demo can hold is bad input (11), not a bug; a result that could not be written to stdout
// (a full disk: /dev/full) is an error (14), not success.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

class ExitCodesTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, 3)); }

  // The command with its stdout on /dev/full (through sh, which the runner finds on PATH).
  ProcessResult RunIntoFullDisk(const std::vector<std::string>& args) {
    Invocation command = server_.Command(args);
    Invocation shell;
    shell.program = "sh";
    shell.args = {"-c", "exec \"$0\" \"$@\" > /dev/full", command.program.string()};
    shell.args.insert(shell.args.end(), command.args.begin(), command.args.end());
    shell.env = command.env;
    shell.working_dir = command.working_dir;
    return RunTool(shell);
  }
};

TEST_P(ExitCodesTest, DemoRowsBeyondAnyDemoIsBadInput) {
  const std::string before = server_.Dump();
  for (const char* rows : {"99999999999999999999", "1000001"}) {
    ProcessResult result = server_.Run({"demo", "--rows", rows});
    ExpectOneErrorLine(result, kExitBadInput);
    EXPECT_EQ(result.stderr_data.find("a bug"), std::string::npos) << result.Describe();
  }
  ExpectDumpUnchanged(server_, before, "demo --rows beyond the bound");
}

TEST_P(ExitCodesTest, OutputLostOnAFullDiskIsAnError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status", "--json"}, {"status"}, {"verify"}, {"columns", "list"}}) {
    ProcessResult result = RunIntoFullDisk(args);
    ExpectOneErrorLine(result, kExitOutputLost);
    EXPECT_NE(result.stderr_data.find("stdout"), std::string::npos) << result.Describe();
  }
  // The same commands with a working stdout still succeed.
  RunOk(server_, {"verify"});
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ExitCodesTest);

}  // namespace
}  // namespace udmg::testing
