#include "pipeline/lock_wait_watch.h"

#include <ctime>

#include "db/statement_cancel.h"

namespace udmg::pipeline {

using namespace std::chrono_literals;

LockWaitWatch::LockWaitWatch(std::string database_url, LockWaitBoard& board,
                             const std::atomic<int64_t>& job_id)
    : url_(std::move(database_url)), board_(board), job_id_(job_id) {}

LockWaitWatch::~LockWaitWatch() {
  if (stored_) Store(std::nullopt);
}

void LockWaitWatch::Poll() {
  auto now = std::chrono::steady_clock::now();
  std::optional<db::RunningStatementInfo> longest = db::LongestRunningStatement();
  if (!longest || longest->running_for < 1s) {
    board_.Set(std::nullopt);
    if (stored_) Store(std::nullopt);
    return;
  }
  if (now - last_asked_ < 1s || store_failed_) return;
  last_asked_ = now;
  if (!store_) {
    Result<std::unique_ptr<db::Store>> opened = db::OpenStore(url_, db::OpenMode::kExisting);
    if (!opened.ok()) {
      store_failed_ = true;
      return;
    }
    store_ = std::move(*opened);
  }
  Result<std::vector<int64_t>> pids = store_->BlockingPids(longest->backend_pid);
  if (!pids.ok() || pids->empty()) {  // slow, not blocked (or the statement just ended)
    board_.Set(std::nullopt);
    if (stored_) Store(std::nullopt);
    return;
  }
  double waited = std::chrono::duration<double>(longest->running_for).count();
  board_.Set(LockWait{longest->backend_pid, *pids, waited});
  if (stored_ != *pids || now - last_stored_ >= 5s) {
    Store(db::JobWait{*pids, static_cast<int64_t>(std::time(nullptr)) -
                                 static_cast<int64_t>(waited)});
  }
}

void LockWaitWatch::Store(const std::optional<db::JobWait>& wait) {
  int64_t job_id = job_id_.load();
  if (!store_ || job_id == 0) return;
  last_stored_ = std::chrono::steady_clock::now();
  if (store_->RecordJobWait(job_id, wait).ok()) {
    stored_ = wait ? std::optional(wait->blocking_pids) : std::nullopt;
  }
}

}  // namespace udmg::pipeline
