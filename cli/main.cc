#include <exception>
#include <new>
#include <string>

#include <oneapi/tbb/global_control.h>

#include "cli/app.h"
#include "cli/environment_secrets.h"
#include "cli/heap_reuse.h"
#include "cli/output.h"
#include "cli/passphrase_input.h"
#include "cli/process_hardening.h"
#include "engine/root_key.h"

namespace {

int RunGuarded(int argc, char** argv) {
  using namespace udmg::cli;
  try {
    return RunCli(argc, argv);
  } catch (const std::exception& error) {
    // Caught here rather than left to std::terminate, so the stack unwinds and every key buffer
    // on it is wiped.
    return PrintError(udmg::Error{udmg::ErrorCode::kInternal,
                                  std::string("unexpected failure (a bug): ") + error.what()});
  } catch (...) {
    return PrintError(udmg::Error{udmg::ErrorCode::kInternal, "unexpected failure (a bug)"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace udmg::cli;
  // Before anything reads a key or starts a thread (docs/process-hygiene.md).
  const HardeningReport hardening = HardenProcess();
  KeepFreedHeapForReuse();
  TakeSecretsFromEnvironment({udmg::kRootKeyEnv, kBackupPassphraseEnv});
  // One line on stderr whatever the output mode: stdout (--json) is untouched, and a daemon's or
  // cron's stderr is where an operator finds it.
  if (std::string warning = hardening.WarningLine(); !warning.empty()) PrintWarning(warning);
  // oneTBB's worker threads are joined before exit: otherwise they may still be ending (running
  // OpenSSL's thread-exit cleanup) while OpenSSL's atexit handler frees the locks they take.
  oneapi::tbb::task_scheduler_handle workers{oneapi::tbb::attach{}};
  int code = RunGuarded(argc, argv);
  oneapi::tbb::finalize(workers, std::nothrow);
  return code;
}
