// A private throwaway PostgreSQL server (scripts/postgres.sh) for the tests that restart or
// replicate one: doing that to the shared server of UDMG_TEST_POSTGRES_URL would break every other
// test running on it in parallel (ctest -j). Only when a PostgreSQL run was asked for
// (UDMG_TEST_POSTGRES_URL set), the environment starts its own server before the first test and
// points UDMG_TEST_POSTGRES_URL / UDMG_TEST_POSTGRES_DIR of this process at it; with a standby,
// also a hot standby of it (UDMG_TEST_POSTGRES_STANDBY_URL / _DIR). Without a server the tests
// skip, or fail under UDMG_REQUIRE_POSTGRES=1 (UDMG_SKIP_OR_FAIL_WITHOUT_POSTGRES).
//
// Thread-safety: the environment is set up and torn down by GoogleTest on the main thread.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"

namespace udmg::testing {

// UDMG_PG_BIN, or the PostgreSQL 15 binaries of Debian.
std::string PgBin();

// A command as the owner of the server files (the `postgres` user when the test runs as root, as
// scripts/postgres.sh does).
Invocation AsServerOwner(std::vector<std::string> command);

class PrivatePostgres : public ::testing::Environment {
 public:
  explicit PrivatePostgres(bool with_standby = false) : with_standby_(with_standby) {}
  void SetUp() override;
  void TearDown() override;

 private:
  // scripts/postgres.sh `args`: the variables of its `export NAME=VALUE` lines, each also set in
  // this process's environment (a test failure when the script fails).
  std::map<std::string, std::string> RunScript(std::vector<std::string> args);

  bool with_standby_;
  std::vector<std::string> dirs_;  // servers to stop, in the order started
};

}  // namespace udmg::testing
