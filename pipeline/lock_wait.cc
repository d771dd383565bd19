#include "pipeline/lock_wait.h"

#include "pipeline/progress.h"

namespace udmg::pipeline {

std::string DescribeLockWait(const std::vector<int64_t>& blocking_pids, double waited_seconds) {
  std::string pids;
  for (int64_t pid : blocking_pids) pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
  return "waiting for a lock held by PostgreSQL backend" +
         std::string(blocking_pids.size() > 1 ? "s " : " ") + pids + " (" +
         FormatDuration(waited_seconds) + ")";
}

void LockWaitBoard::Set(std::optional<LockWait> wait) {
  base::MutexLock lock(mutex_);
  wait_ = std::move(wait);
}

std::optional<LockWait> LockWaitBoard::Get() const {
  base::MutexLock lock(mutex_);
  return wait_;
}

}  // namespace udmg::pipeline
