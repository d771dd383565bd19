// What a job's statement waits for in PostgreSQL: the backends holding the lock it waits on
// (pg_blocking_pids of its own backend), for the progress line, the metrics and `reencrypt
// --status` of another process (stored on the job row). SQLite statements wait at most their busy
// timeout and are never reported.
//
// Thread-safety: LockWaitBoard may be used from any thread. The watch that fills it is
// pipeline/lock_wait_watch.h (it needs the database; this part does not).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"

namespace udmg::pipeline {

struct LockWait {
  int64_t backend_pid = 0;              // ours, the waiting one
  std::vector<int64_t> blocking_pids;   // never empty
  double waited_seconds = 0;            // since the statement started
};

// "waiting for a lock held by PostgreSQL backend 4242 (12s)"; several pids: "backends 1, 2".
std::string DescribeLockWait(const std::vector<int64_t>& blocking_pids, double waited_seconds);

// The current wait, shared by the watch (writer) and the progress line and metrics (readers).
class LockWaitBoard {
 public:
  void Set(std::optional<LockWait> wait);
  std::optional<LockWait> Get() const;

 private:
  mutable base::Mutex mutex_;
  std::optional<LockWait> wait_ GUARDED_BY(mutex_);
};

}  // namespace udmg::pipeline
