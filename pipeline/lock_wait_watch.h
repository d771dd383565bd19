// Fills a LockWaitBoard (pipeline/lock_wait.h) from this process's running PostgreSQL statements
// and stores the wait on the job row.
//
// Thread-safety: Poll from one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/store.h"
#include "pipeline/lock_wait.h"

namespace udmg::pipeline {

// Called every ~100 ms by the job's statement watch thread. Once a statement of this process has
// run for a second, asks the database (at most once a second, on a connection of its own opened
// then) which backends block it, publishes that on the board and stores it on the job row (when
// it changes, and every 5 s, so `status` can tell a stale report from a live one); clears both
// when the wait ends. Failures to ask or store are dropped: the report is a courtesy, the job's
// own statements decide its outcome.
class LockWaitWatch {
 public:
  LockWaitWatch(std::string database_url, LockWaitBoard& board,
                const std::atomic<int64_t>& job_id);
  ~LockWaitWatch();  // clears a wait still stored on the job row
  LockWaitWatch(const LockWaitWatch&) = delete;
  LockWaitWatch& operator=(const LockWaitWatch&) = delete;
  void Poll();

 private:
  void Store(const std::optional<db::JobWait>& wait);

  const std::string url_;
  LockWaitBoard& board_;
  const std::atomic<int64_t>& job_id_;
  std::unique_ptr<db::Store> store_;
  bool store_failed_ = false;
  std::chrono::steady_clock::time_point last_asked_{};
  std::chrono::steady_clock::time_point last_stored_{};
  std::optional<std::vector<int64_t>> stored_;  // what the job row says now
};

}  // namespace udmg::pipeline
