// The job runner: what every long job (`reencrypt`, the rotations' --reencrypt, `sweep`) runs
// inside, so that each job has every operator control by construction (docs/throttle-and-control.md):
// SIGINT/SIGTERM and a stop file (stop at a batch boundary, checkpoint saved), a run time, the
// throttle with its gates (pause file, replica lag), the statement watch that cancels statements
// blocked in the database once the job must stop, the lock-wait watch, the progress line and the
// Unix control socket. The job body (the pipeline run, the sweep) is given the runner's hooks.
//
// Order: JobRunner::Start before any database read of the job (a read blocked on a lock is then
// still ended by a signal or the run time), then whatever else the caller starts (metrics), then
// Run(body).
//
// Thread-safety: one controlling thread calls Start/Instrument/Run and the destructor; the hooks
// run on the pipeline's stages. One runner at a time per process (the signal handlers are
// process state, installed for the runner's life only).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "pipeline/control.h"
#include "pipeline/job_gates.h"
#include "pipeline/lock_wait_watch.h"
#include "pipeline/progress.h"
#include "pipeline/reencrypt.h"
#include "pipeline/throttle.h"

namespace udmg::pipeline {

// How a job is run (the CLI builds it from the flags every job command shares).
struct JobRunSpec {
  std::string database_url;
  ThrottleOptions throttle;
  JobGateOptions gates;
  Duration run_time{0};                   // stop starting batches after this long; 0: none
  std::optional<std::string> stop_file;   // stop at a batch boundary once it exists
  std::string control_socket;             // the Unix control socket's path; "": none
  bool progress = true;                   // progress lines on `progress_out`
  std::FILE* progress_out = stderr;
  ProgressReporterOptions progress_options;
  WarningSink warn = StderrWarningSink();  // one line each (a control socket that cannot start...)
};

class JobRunner {
 public:
  // Installs the stop handlers and starts the statement watch first, then builds the throttle
  // with its gates and starts the control socket (a control socket that cannot start is a
  // warning). kBadInput / kUsage / kDatabase from the throttle and the gates.
  static Result<std::unique_ptr<JobRunner>> Start(JobRunSpec spec);
  ~JobRunner();  // stops the watch and the socket, restores the previous signal handlers
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // A signal or the stop file asked the job to stop (the stop file is checked by this call).
  bool StopRequested();
  // The flag the pipeline polls (ReencryptOptions::stop).
  const std::atomic<bool>* stop_flag() const;
  Duration run_time() const { return spec_.run_time; }

  Throttle& throttle() { return *throttle_; }
  ControlCommands& commands() { return *commands_; }
  const LockWaitBoard& lock_waits() const { return lock_wait_board_; }

  // Chains the runner into `hooks`: before_fetch waits on the throttle (and stops on a stop
  // request), after_commit feeds it, on_job_running names the job for the lock-wait watch,
  // on_progress feeds the progress line. Hooks already set run after the runner's.
  void Instrument(ReencryptHooks& hooks);

  // Runs `body` with the progress line on, and ends the progress line and the control socket
  // when it returns.
  template <typename Body>
  auto Run(Body&& body) -> decltype(body()) {
    StartProgress();
    auto result = body();
    Finish();
    return result;
  }

  // Why the throttle stopped the job (its critical write latency), when it did.
  std::optional<Error> WhyStopped() const { return throttle_->Stats().stop_reason; }

 private:
  class Signals;
  class StatementWatch;
  explicit JobRunner(JobRunSpec spec);
  void StartProgress();
  void Finish();

  const JobRunSpec spec_;
  std::unique_ptr<Signals> signals_;
  LockWaitBoard lock_wait_board_;
  std::atomic<int64_t> job_id_{0};
  LockWaitWatch lock_wait_watch_;
  std::unique_ptr<StatementWatch> statement_watch_;
  std::unique_ptr<Throttle> throttle_;
  ProgressTracker tracker_;
  std::unique_ptr<ControlCommands> commands_;
  std::unique_ptr<ControlServer> control_;
  std::optional<ProgressReporter> reporter_;
};

}  // namespace udmg::pipeline
