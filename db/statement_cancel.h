// Cancelling this process's database statements from another thread: a job asked to stop (signal,
// stop file, run time) must not sit in a statement blocked on a lock until the lock goes away.
//
// Thread-safety: both functions may be called from any thread at any time.
#pragma once

#include <chrono>
#include <optional>

namespace udmg::db {

// Cancels every PostgreSQL statement of this process that has been running for at least
// `min_running` (PQcancel, through pqxx::connection::cancel_query). The call it belongs to then
// fails with kIncomplete ("stopped while waiting for the database"), without a retry. Statements
// shorter than that (the bookkeeping of a job that is stopping) are left alone. SQLite statements
// are not cancelled: they wait at most their busy timeout.
void CancelStatementsRunningFor(std::chrono::milliseconds min_running);

// How long this process's longest-running PostgreSQL statement has been running, and the backend
// pid it runs on; nullopt when none runs.
struct RunningStatementInfo {
  std::chrono::steady_clock::duration running_for{};
  int backend_pid = 0;
};
std::optional<RunningStatementInfo> LongestRunningStatement();

}  // namespace udmg::db
