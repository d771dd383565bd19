// A mutex, its scoped lock and a condition variable that clang's thread-safety analysis
// understands (base/thread_annotations.h): members marked GUARDED_BY(mutex_) are checked at
// compile time in the clang build. Behaviour is std::mutex's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace udmg::base {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mutex_.lock(); }
  void Unlock() RELEASE() { mutex_.unlock(); }

  // BasicLockable, for CondVar's std::condition_variable_any.
  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

// Holds the mutex from construction to the end of the scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.Lock(); }
  ~MutexLock() RELEASE() { mutex_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

// Waits take the mutex held by the caller, who checks the condition in a loop around them:
// the analysis then sees every read of a guarded member under its mutex (a predicate lambda
// would be a function of its own, unannotated).
class CondVar {
 public:
  // Releases the mutex while waiting; holds it again on return (also on a spurious wake-up).
  void Wait(Mutex& mutex) REQUIRES(mutex) { cv_.wait(mutex); }
  // As Wait, for at most `timeout`. False if the time ran out.
  template <class Rep, class Period>
  bool WaitFor(Mutex& mutex, std::chrono::duration<Rep, Period> timeout) REQUIRES(mutex) {
    return cv_.wait_for(mutex, timeout) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace udmg::base
