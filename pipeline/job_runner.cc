#include "pipeline/job_runner.h"

#include <csignal>
#include <filesystem>
#include <stop_token>
#include <thread>
#include <utility>

#include "db/statement_cancel.h"

namespace udmg::pipeline {
namespace {

// Set by SIGINT/SIGTERM (a lock-free atomic store is async-signal-safe) and by the stop file.
std::atomic<bool> g_stop_requested{false};

extern "C" void RequestStop(int) { g_stop_requested.store(true); }

}  // namespace

// Installs the stop handlers for the life of a run; the previous handlers come back after it.
class JobRunner::Signals {
 public:
  Signals() {
    g_stop_requested.store(false);
    struct sigaction action {};
    action.sa_handler = RequestStop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~Signals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

// While a job runs: once a stop is asked (signal, stop file) or its run time is over, cancels its
// database statements still running (a lock wait would otherwise outlast every signal), and says
// once which backend waits when a statement has run for a while. The throttle's own stop checks
// cover time spent waiting outside the database.
class JobRunner::StatementWatch {
 public:
  // `lock_waits` (must outlive this) is polled at each round.
  StatementWatch(std::function<bool()> stop_requested,
                 std::optional<std::chrono::steady_clock::time_point> deadline,
                 LockWaitWatch& lock_waits, WarningSink warn)
      : thread_([stop_requested, deadline, &lock_waits, warn](std::stop_token token) {
          Watch(token, stop_requested, deadline, lock_waits, warn);
        }) {}

 private:
  static void Watch(std::stop_token token, const std::function<bool()>& stop_requested,
                    std::optional<std::chrono::steady_clock::time_point> deadline,
                    LockWaitWatch& lock_waits, const WarningSink& warn) {
    using namespace std::chrono_literals;
    bool said = false;
    while (!token.stop_requested()) {
      if (stop_requested() || (deadline && std::chrono::steady_clock::now() >= *deadline)) {
        // 500 ms: the bookkeeping of a job that is stopping is never cut short.
        db::CancelStatementsRunningFor(500ms);
      }
      std::optional<db::RunningStatementInfo> longest = db::LongestRunningStatement();
      if (!said && longest && longest->running_for >= 5s) {
        said = true;
        warn("waiting for the database: a statement of this job has run for 5 s on "
             "PostgreSQL backend " + std::to_string(longest->backend_pid) +
             " (SELECT pg_blocking_pids(" + std::to_string(longest->backend_pid) +
             ") names what it waits for); a signal, the stop file or the run time still "
             "stop the job at once",
             {});
      }
      lock_waits.Poll();
      std::this_thread::sleep_for(100ms);
    }
  }

  std::jthread thread_;
};

JobRunner::JobRunner(JobRunSpec spec)
    : spec_(std::move(spec)),
      signals_(std::make_unique<Signals>()),
      lock_wait_watch_(spec_.database_url, lock_wait_board_, job_id_),
      tracker_(SteadyClock(), 0) {}

JobRunner::~JobRunner() {
  Finish();
  statement_watch_.reset();  // joined before the handlers go
}

Result<std::unique_ptr<JobRunner>> JobRunner::Start(JobRunSpec spec) {
  std::unique_ptr<JobRunner> runner(new JobRunner(std::move(spec)));
  const JobRunSpec& s = runner->spec_;
  // First, before anything reads the database: a read blocked on a lock must still end.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (s.run_time > Duration::zero()) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(s.run_time);
  }
  JobRunner* self = runner.get();
  runner->statement_watch_ = std::make_unique<StatementWatch>(
      [self] { return self->StopRequested(); }, deadline, runner->lock_wait_watch_, s.warn);

  Clock& clock = SteadyClock();
  UDMG_ASSIGN_OR_RETURN(runner->throttle_, Throttle::Create(s.throttle, clock));
  UDMG_RETURN_IF_ERROR(AddJobGates(*runner->throttle_, s.gates, clock, s.warn));
  runner->tracker_.WatchLockWaits(&runner->lock_wait_board_);
  runner->commands_ = std::make_unique<ControlCommands>(*runner->throttle_, &runner->tracker_);
  if (!s.control_socket.empty()) {
    auto control = ControlServer::Start(s.control_socket, *runner->commands_);
    if (control.ok()) {
      runner->control_ = std::move(*control);
    } else {
      s.warn("live control is off: " + control.error().message, control.error().setting);
    }
  }
  return runner;
}

bool JobRunner::StopRequested() {
  if (spec_.stop_file && std::filesystem::exists(*spec_.stop_file)) g_stop_requested = true;
  return g_stop_requested.load();
}

const std::atomic<bool>* JobRunner::stop_flag() const { return &g_stop_requested; }

void JobRunner::Instrument(ReencryptHooks& hooks) {
  auto before_fetch = std::move(hooks.before_fetch);
  hooks.before_fetch = [this, before_fetch](size_t, const StopCheck& must_stop) {
    size_t rows = throttle_->AdmitNextBatch([&] { return StopRequested() || must_stop(); });
    if (rows == 0 || !before_fetch) return rows;
    return before_fetch(rows, must_stop);
  };
  auto after_commit = std::move(hooks.after_commit);
  hooks.after_commit = [this, after_commit](const BatchCommitted& batch) {
    throttle_->RecordBatchWrite(batch.rows, batch.write_time);
    if (after_commit) after_commit(batch);
  };
  auto on_job_running = std::move(hooks.on_job_running);
  hooks.on_job_running = [this, on_job_running](int64_t id) {
    job_id_ = id;
    if (on_job_running) on_job_running(id);
  };
  auto on_progress = std::move(hooks.on_progress);
  hooks.on_progress = [this, on_progress](const ProgressSnapshot& snapshot) {
    tracker_.Update(snapshot.done, snapshot.total);
    if (on_progress) on_progress(snapshot);
  };
}

void JobRunner::StartProgress() {
  if (!spec_.progress) return;
  reporter_.emplace(tracker_, throttle_.get(), spec_.progress_out, SteadyClock(),
                    spec_.progress_options);
  reporter_->Start();
}

void JobRunner::Finish() {
  if (reporter_) {
    reporter_->Stop();
    reporter_.reset();
  }
  if (control_) control_->Stop();
}

}  // namespace udmg::pipeline
