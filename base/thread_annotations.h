// Clang's thread-safety attributes (-Wthread-safety), named as the analysis documents them.
// Under another compiler they expand to nothing. Use them with base::Mutex (base/mutex.h):
// libstdc++'s std::mutex carries none, so members guarded by one cannot be checked.
#pragma once

#if defined(__clang__)
#define UDMG_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define UDMG_THREAD_ANNOTATION(x)
#endif

// A class whose objects are locks (a mutex): CAPABILITY("mutex").
#define CAPABILITY(x) UDMG_THREAD_ANNOTATION(capability(x))
// A RAII class that holds a capability for its lifetime (base::MutexLock).
#define SCOPED_CAPABILITY UDMG_THREAD_ANNOTATION(scoped_lockable)
// A member read or written only with the given mutex held.
#define GUARDED_BY(x) UDMG_THREAD_ANNOTATION(guarded_by(x))
// A pointer member whose pointee is read or written only with the given mutex held.
#define PT_GUARDED_BY(x) UDMG_THREAD_ANNOTATION(pt_guarded_by(x))
// A function the caller calls with the given mutexes held.
#define REQUIRES(...) UDMG_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// A function the caller calls without the given mutexes (it takes them itself).
#define EXCLUDES(...) UDMG_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// A function that takes (ACQUIRE) or gives back (RELEASE) the given mutexes, or this object.
#define ACQUIRE(...) UDMG_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) UDMG_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) UDMG_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// A function after which the analysis may assume the mutex held (it checks nothing).
#define ASSERT_CAPABILITY(x) UDMG_THREAD_ANNOTATION(assert_capability(x))
// A function the analysis does not look into: say in a comment why it is safe.
#define NO_THREAD_SAFETY_ANALYSIS UDMG_THREAD_ANNOTATION(no_thread_safety_analysis)
