// ThreadSanitizer annotations for the flow graph. Debian's oneTBB is not built with TSan, so the
// happens-before edges it creates (a task spawned after the graph was set up, a message handed to
// the next node, a serial node running one body at a time, wait_for_all returning after every
// body) are invisible to TSan. HandOff/TakeOver state exactly those edges on a token address;
// outside TSan builds they are empty.
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace udmg::pipeline {

#if defined(__SANITIZE_THREAD__)
// Everything this thread did so far happens before what a later TakeOver(token) thread does.
inline void HandOff(const void* token) { __tsan_release(const_cast<void*>(token)); }
inline void TakeOver(const void* token) { __tsan_acquire(const_cast<void*>(token)); }
#else
inline void HandOff(const void*) {}
inline void TakeOver(const void*) {}
#endif

}  // namespace udmg::pipeline
