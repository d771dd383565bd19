// The job's gates: the pause file and the replica lag (pipeline/job_gates.h). The replica lag gate
// reads a scripted replication state on a ManualClock: nothing sleeps, no server is needed (the
// end-to-end test with a real standby is tests/e2e/postgres_standby_test.cc).
#include "pipeline/job_gates.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace udmg::pipeline {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(PauseFileGateTest, HoldsWhileTheFileExists) {
  ::udmg::testing::TempDir dir("udmg-gate-");
  const std::string path = (dir.path() / "pause").string();
  PauseFileGate gate(path);
  EXPECT_EQ(gate.reason(), ThrottleReason::kPauseFile);
  EXPECT_FALSE(gate.Hold());
  std::ofstream(path) << "";
  EXPECT_EQ(gate.Hold(), "pause file " + path + " exists");
  std::filesystem::remove(path);
  EXPECT_FALSE(gate.Hold());
}

// A replication state the test changes between readings; counts the readings.
struct ScriptedReplication {
  Result<db::ReplicationState> state = db::ReplicationState{};
  int reads = 0;
  ReplicaLagGate::Reader Reader() {
    return [this] {
      ++reads;
      return state;
    };
  }
  db::ReplicationState& Set(uint64_t primary, std::vector<db::ReplicaPosition> replicas) {
    state = db::ReplicationState{primary, std::move(replicas)};
    return *state;
  }
};

struct Gate {
  ManualClock clock;
  ScriptedReplication replication;
  std::vector<std::string> warnings;
  std::vector<std::string> warning_settings;
  ReplicaLagGate gate{replication.Reader(), seconds(5), clock,
                      [this](std::string_view line, std::string_view setting) {
                        warnings.emplace_back(line);
                        warning_settings.emplace_back(setting);
                      }};
};

TEST(ReplicaLagGateTest, AReplicaWhoseReplayStopsIsSeenLaggingFromTheFirstUnreplayedWal) {
  Gate g;
  g.replication.Set(100, {{"standby1", 100, 0.0}});
  EXPECT_FALSE(g.gate.Hold());
  // The primary writes on; the replica's replay stays at 100 and its replay_lag stays small (a
  // replica that has not reported yet).
  g.clock.Advance(seconds(1));
  g.replication.Set(200, {{"standby1", 100, 0.1}});
  EXPECT_FALSE(g.gate.Hold()) << "WAL past the replay position was first seen just now";
  g.clock.Advance(seconds(5));
  EXPECT_FALSE(g.gate.Hold()) << "5 s is not above the bound";
  g.clock.Advance(seconds(1));
  EXPECT_EQ(g.gate.Hold(), "replica standby1 lags 6.0 s, above the replica lag limit 5.0 s");
  // Replay catches up: no more hold.
  g.clock.Advance(seconds(1));
  g.replication.Set(200, {{"standby1", 200, 0.0}});
  EXPECT_FALSE(g.gate.Hold());
  EXPECT_TRUE(g.warnings.empty());
}

TEST(ReplicaLagGateTest, TheServersReplayLagCountsToo) {
  Gate g;
  g.replication.Set(100, {{"a", 100, 0.0}, {"b", 100, 7.5}});
  EXPECT_EQ(g.gate.Hold(), "replica b lags 7.5 s, above the replica lag limit 5.0 s");
}

TEST(ReplicaLagGateTest, ReadsAtMostOncePerPollInterval) {
  Gate g;
  g.replication.Set(100, {});
  EXPECT_FALSE(g.gate.Hold());
  g.clock.Advance(milliseconds(500));
  EXPECT_FALSE(g.gate.Hold());
  EXPECT_EQ(g.replication.reads, 1);
  g.clock.Advance(milliseconds(500));
  EXPECT_FALSE(g.gate.Hold());
  EXPECT_EQ(g.replication.reads, 2);
  ASSERT_EQ(g.warnings.size(), 1u) << "no replica: said once";
  EXPECT_NE(g.warnings[0].find("no streaming replica is connected"), std::string::npos);
  EXPECT_EQ(g.warning_settings[0], "max_replica_lag") << "the CLI names its flag";
}

TEST(ReplicaLagGateTest, ALagThatCannotBeReadHoldsAndIsSaidOnce) {
  Gate g;
  // Without pg_monitor the positions read NULL.
  g.replication.Set(100, {{"standby1", std::nullopt, std::nullopt}});
  EXPECT_EQ(g.gate.Hold(), "the lag of replica standby1 cannot be read");
  g.clock.Advance(seconds(1));
  EXPECT_TRUE(g.gate.Hold());
  ASSERT_EQ(g.warnings.size(), 1u);
  EXPECT_NE(g.warnings[0].find("needs pg_monitor (or pg_read_all_stats)"), std::string::npos);
  // A failed reading holds too.
  g.clock.Advance(seconds(1));
  g.replication.state = Error{ErrorCode::kDatabase, "connection lost"};
  EXPECT_EQ(g.gate.Hold(), "replica lag cannot be read");
  ASSERT_EQ(g.warnings.size(), 2u);
  EXPECT_NE(g.warnings[1].find("connection lost"), std::string::npos);
}

TEST(JobGateOptionsTest, ReplicaLagOnSqliteIsAUsageError) {
  Status sqlite = ValidateJobGateOptions({.max_replica_lag = seconds(1), .database_url = "sqlite:x.db"});
  EXPECT_EQ(sqlite.code(), ErrorCode::kUsage);
  EXPECT_EQ(sqlite.message(),
            "the replica lag limit needs a PostgreSQL database: SQLite has no replicas");
  EXPECT_EQ(sqlite.setting(), "max_replica_lag");
  EXPECT_TRUE(ValidateJobGateOptions({.pause_file = "p", .database_url = "sqlite:x.db"}).ok());
  EXPECT_TRUE(ValidateJobGateOptions(
                  {.max_replica_lag = seconds(1), .database_url = "postgresql://u@h/db"})
                  .ok());
}

}  // namespace
}  // namespace udmg::pipeline
