// `--version` names the build (version, git commit) and the libraries it runs on; a first word
// that is no command is named in the usage error (exit 2), never CLI11's "A subcommand is
// required". Run with --db of each backend, so the global option before the word is skipped.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

class VersionTest : public ServerTest {};

TEST_P(VersionTest, VersionNamesTheBuildAndItsLibraries) {
  ProcessResult result = RunOk(server_, {"--version"});
  EXPECT_TRUE(result.stderr_data.empty()) << result.Describe();
  const std::regex expected(
      "udmg-server [0-9]+\\.[0-9]+\\.[0-9]+\n"
      "commit ([0-9a-f]{12}|unknown)\n"
      "OpenSSL [0-9]+\\.[0-9]+\\.[0-9]+\n"
      "SQLite [0-9]+\\.[0-9]+\\.[0-9]+\n"
      "libpq [0-9]+\\.[0-9]+\n"
      "oneTBB [0-9]+\\.[0-9]+[^\n]*\n");
  EXPECT_TRUE(std::regex_match(result.stdout_data, expected)) << result.Describe();
}

// Shorter than 12 characters: a longer word could be a key typed in the wrong place.
TEST_P(VersionTest, AnUnknownCommandIsNamed) {
  ProcessResult result = server_.Run({"rotate-k1"});
  ExpectOneErrorLine(result, kExitUsage);
  EXPECT_EQ(result.stderr_data,
            "udmg-server: error: unknown command 'rotate-k1' (see `udmg-server --help`)\n");
}

TEST_P(VersionTest, AnUnknownCommandThatCouldBeAKeyIsNotShown) {
  const std::string key = RandomKeyHex();
  ProcessResult result = server_.Run({key});
  ExpectOneErrorLine(result, kExitUsage);
  EXPECT_NE(result.stderr_data.find("unknown command '[argument not shown"), std::string::npos)
      << result.Describe();
  ExpectNoKeyIn(result, {key});
}

TEST_P(VersionTest, NoCommandAtAllStillSaysOneIsRequired) {
  ProcessResult result = server_.Run({});
  ExpectOneErrorLine(result, kExitUsage);
  EXPECT_NE(result.stderr_data.find("A subcommand is required"), std::string::npos)
      << result.Describe();
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(VersionTest);

}  // namespace
}  // namespace udmg::testing
