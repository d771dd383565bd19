#include "tests/e2e/private_postgres.h"

#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "tests/db/postgres_test_database.h"

namespace udmg::testing {
namespace {

// The environment of scripts/postgres.sh: the runner's minimal PATH lacks /usr/sbin (runuser).
std::map<std::string, std::string> ScriptEnv() {
  return {{"UDMG_PG_BIN", PgBin()}, {"PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}};
}

std::string Script() { return std::string(UDMG_SOURCE_DIR) + "/scripts/postgres.sh"; }

}  // namespace

std::string PgBin() {
  const char* bin = std::getenv("UDMG_PG_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "/usr/lib/postgresql/15/bin";
}

Invocation AsServerOwner(std::vector<std::string> command) {
  if (geteuid() != 0) {
    Invocation invocation{.program = command.front()};
    invocation.args.assign(command.begin() + 1, command.end());
    return invocation;
  }
  Invocation invocation{.program = "/usr/sbin/runuser", .args = {"-u", "postgres", "--"}};
  invocation.args.insert(invocation.args.end(), command.begin(), command.end());
  return invocation;
}

std::map<std::string, std::string> PrivatePostgres::RunScript(std::vector<std::string> args) {
  args.insert(args.begin(), Script());
  ProcessResult started = RunTool({.program = "bash", .args = args, .env = ScriptEnv()});
  EXPECT_TRUE(started.Exited(0)) << started.Describe();
  std::map<std::string, std::string> exported;
  std::istringstream lines(started.stdout_data);
  std::string line;
  static const std::regex kExport("export (UDMG_TEST_POSTGRES_\\w+)=(.*)");
  while (std::getline(lines, line)) {
    std::smatch match;
    if (!std::regex_match(line, match, kExport)) continue;
    exported[match[1]] = match[2];
    setenv(match[1].str().c_str(), match[2].str().c_str(), 1);
  }
  return exported;
}

void PrivatePostgres::SetUp() {
  if (!db::testing::TestPostgresUrl()) return;  // the tests skip or fail by themselves
  std::map<std::string, std::string> primary = RunScript({"start"});
  ASSERT_TRUE(primary.count("UDMG_TEST_POSTGRES_URL") && primary.count("UDMG_TEST_POSTGRES_DIR"));
  dirs_.push_back(primary["UDMG_TEST_POSTGRES_DIR"]);
  if (!with_standby_) return;
  std::map<std::string, std::string> standby =
      RunScript({"start-standby", primary["UDMG_TEST_POSTGRES_DIR"]});
  ASSERT_TRUE(standby.count("UDMG_TEST_POSTGRES_STANDBY_URL") &&
              standby.count("UDMG_TEST_POSTGRES_STANDBY_DIR"));
  dirs_.push_back(standby["UDMG_TEST_POSTGRES_STANDBY_DIR"]);
}

void PrivatePostgres::TearDown() {
  for (auto dir = dirs_.rbegin(); dir != dirs_.rend(); ++dir) {
    RunTool({.program = "bash", .args = {Script(), "stop", *dir}, .env = ScriptEnv()});
  }
  dirs_.clear();
}

}  // namespace udmg::testing
