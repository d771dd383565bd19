#include <new>

#include <oneapi/tbb/global_control.h>

#include "cli/app.h"

int main(int argc, char** argv) {
  // oneTBB's worker threads are joined before exit: otherwise they may still be ending (running
  // OpenSSL's thread-exit cleanup) while OpenSSL's atexit handler frees the locks they take.
  oneapi::tbb::task_scheduler_handle workers{oneapi::tbb::attach{}};
  int code = udmg::cli::RunCli(argc, argv);
  oneapi::tbb::finalize(workers, std::nothrow);
  return code;
}
