// Concurrent processes on one database: two rotations started at the same instant (both children
// held at a gate between fork and exec, then released together) must not both change the keyring
// in conflicting ways, and every value must still decrypt afterwards.
#include <signal.h>

#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 30;
constexpr int kRounds = 4;

// Starts `first` and `second` at the same instant and waits for both.
std::pair<ProcessResult, ProcessResult> RunTogether(const UdmgServer& server,
                                                    std::vector<std::string> first,
                                                    std::vector<std::string> second) {
  StartGate gate;
  auto a = server.Start(std::move(first), &gate);
  auto b = server.Start(std::move(second), &gate);
  gate.Open();
  ProcessResult result_a = a->Wait();
  ProcessResult result_b = b->Wait();
  return {std::move(result_a), std::move(result_b)};
}

// Each test runs on every backend (SQLite file, PostgreSQL schema): UdmgServer picks the database.
class ConcurrencyTest : public ::testing::TestWithParam<db::testing::StoreBackend> {};

TEST_P(ConcurrencyTest, TwoRootKeyRotationsAtOnceExactlyOneWins) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, kRows));
  std::vector<std::string> history = {server.root_key()};

  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string key_a = RandomKeyHex();
    const std::string key_b = RandomKeyHex();
    auto [a, b] = RunTogether(server, {"rotate-k0", "--new-key", key_a},
                              {"rotate-k0", "--new-key", key_b});
    ASSERT_TRUE(a.Exited(kExitOk) != b.Exited(kExitOk))
        << "exactly one rotation must succeed\nA: " << a.Describe() << "\nB: " << b.Describe();
    const bool a_won = a.Exited(kExitOk);
    const ProcessResult& loser = a_won ? b : a;
    const std::string winner_key = a_won ? key_a : key_b;
    const std::string loser_key = a_won ? key_b : key_a;
    // It lost the race, at the lock or by reading the keyring after the winner committed: 7.
    ExpectOneErrorLine(loser, kExitConflict);
    for (const ProcessResult* result : {&a, &b}) {
      ExpectNoKeyIn(*result, {key_a, key_b, history.back()});
    }

    // The database holds exactly the winner's keyring.
    server.set_root_key(winner_key);
    auto status = StatusJson(server);
    ASSERT_TRUE(status);
    EXPECT_EQ((*status)["root_keys"].size(), static_cast<size_t>(round + 1));
    EXPECT_EQ((*status)["current_root_version"], round + 1);
    EXPECT_EQ((*status)["this_node"]["root_key"], "current");
    EXPECT_EQ((*status)["this_node"]["fingerprint"], FingerprintOf(winner_key));
    for (const auto& root : (*status)["root_keys"]) {
      EXPECT_NE(root["fingerprint"], FingerprintOf(loser_key)) << "the loser's key was stored";
    }
    RunOk(server, {"verify"});
    auto inspected = InspectWithPython(server, history);
    ASSERT_TRUE(inspected);
    ExpectDemoPlaintexts(*inspected, kRows);

    server.set_root_key(loser_key);
    status = StatusJson(server);
    ASSERT_TRUE(status);
    EXPECT_EQ((*status)["this_node"]["root_key"], "unknown");
    server.set_root_key(winner_key);
    history.push_back(winner_key);
  }
}

TEST_P(ConcurrencyTest, TwoMasterKeyRotationsAtOnceLeaveAConsistentKeyring) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, kRows));
  size_t master_versions = 1;

  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto [a, b] = RunTogether(server, {"rotate-master-key"}, {"rotate-master-key"});
    // Both may succeed one after the other under the keyring lock; a loser says conflict.
    int successes = 0;
    for (const ProcessResult* result : {&a, &b}) {
      if (result->Exited(kExitOk)) {
        ++successes;
      } else {
        EXPECT_TRUE(result->Exited(kExitConflict)) << result->Describe();
        ExpectOneErrorLine(*result, kExitConflict);
      }
      ExpectNoKeyIn(*result, {server.root_key()});
    }
    EXPECT_GE(successes, 1) << "A: " << a.Describe() << "\nB: " << b.Describe();
    master_versions += successes;

    auto status = StatusJson(server);
    ASSERT_TRUE(status);
    EXPECT_EQ((*status)["master_keys"].size(), master_versions);
    int active = 0;
    int newest = 0;
    for (const auto& master : (*status)["master_keys"]) {
      if (master["state"] == "active") active = master["version"];
      newest = std::max(newest, master["version"].get<int>());
    }
    EXPECT_EQ(active, newest) << "the newest master version must be the active one";
    EXPECT_EQ((*status)["active_master_version"], newest);
    // Exactly one active: checked in the database itself too.
    EXPECT_EQ(server.Exec("SELECT count(*) FROM udmg_master_keys WHERE state = 'active';"),
              "1\n");

    // Every value still decrypts, before and after a sweep to the active version.
    RunOk(server, {"verify"});
    RunOk(server, {"secret", "get", "credentials.secret", std::to_string(round)});
    RunOk(server, {"sweep"});
    auto inspected = InspectWithPython(server);
    ASSERT_TRUE(inspected);
    EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows), (std::map<int, int>{{newest, kRows}}));
  }
}

TEST_P(ConcurrencyTest, TwoSweepsAtOnceMigrateEveryValueOnce) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, kRows));
  RunOk(server, {"rotate-master-key"});
  auto [a, b] = RunTogether(server, {"sweep", "--batch-size", "3"}, {"sweep", "--batch-size", "3"});
  EXPECT_TRUE(a.Exited(kExitOk)) << a.Describe();
  EXPECT_TRUE(b.Exited(kExitOk)) << b.Describe();
  auto inspected = InspectWithPython(server);
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows), (std::map<int, int>{{2, kRows}}));
}

TEST_P(ConcurrencyTest, ReadersAndASweepAtOnceLoseNoValue) {
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, kRows));
  RunOk(server, {"rotate-master-key"});
  StartGate gate;
  auto sweep = server.Start({"sweep", "--batch-size", "2"}, &gate);
  std::vector<std::unique_ptr<BackgroundProcess>> readers;
  for (int id = 1; id <= 4; ++id) {
    readers.push_back(server.Start({"secret", "get", "credentials.secret", std::to_string(id)},
                                   &gate));
  }
  gate.Open();
  EXPECT_TRUE(sweep->Wait().Exited(kExitOk));
  for (size_t i = 0; i < readers.size(); ++i) {
    ProcessResult read = readers[i]->Wait();
    EXPECT_TRUE(read.Exited(kExitOk)) << read.Describe();
    EXPECT_EQ(read.stdout_data, "demo-secret-" + std::to_string(i + 1));
  }
  auto inspected = InspectWithPython(server);
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows), (std::map<int, int>{{2, kRows}}));
}

// kill -9 of a sweep at several points, then a sweep to completion: no value lost or damaged.
// The kill points vary (before any write, after some rows); each kill must land while the sweep
// runs: one commit per row keeps it busy far longer than the test takes to react, and a sweep
// that ended first fails the test instead of passing without having been killed.
TEST_P(ConcurrencyTest, SweepKilledAtAnyPointThenRerunLosesNothing) {
  constexpr int kManyRows = 3000;
  TempDir dir;
  UdmgServer server(dir.path());
  ASSERT_TRUE(InitDemo(server, kManyRows));
  RunOk(server, {"rotate-master-key"});
  int active = 2;
  auto migrated = [&] {
    return std::stoi(server.Exec("SELECT count(*) FROM credentials WHERE secret LIKE 'udmg:v" +
                                 std::to_string(active) + ":%';"));
  };
  for (int migrated_before_kill : {0, 1, 100}) {
    SCOPED_TRACE("kill after " + std::to_string(migrated_before_kill) + " rows");
    auto sweep = server.Start({"sweep", "--batch-size", "1"});
    // Wait for progress, not for time: until enough rows moved or the sweep already ended.
    while (migrated_before_kill > 0 && migrated() < migrated_before_kill && sweep->Running()) {
    }
    EXPECT_TRUE(sweep->Kill(SIGKILL)) << "the sweep ended before the kill";
    ProcessResult killed = sweep->Wait();
    EXPECT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
    const int moved = migrated();
    EXPECT_GE(moved, migrated_before_kill);
    EXPECT_LT(moved, kManyRows) << "the kill did not land mid-run";
    auto inspected = InspectWithPython(server);  // every value still decrypts, old or new version
    ASSERT_TRUE(inspected);
    ExpectDemoPlaintexts(*inspected, kManyRows);
    RunOk(server, {"rotate-master-key"});  // something to migrate again in the next round
    ++active;
  }
  RunOk(server, {"sweep"});
  RunOk(server, {"verify"});
  auto inspected = InspectWithPython(server);
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kManyRows), (std::map<int, int>{{5, kManyRows}}));
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(ConcurrencyTest);

}  // namespace
}  // namespace udmg::testing
