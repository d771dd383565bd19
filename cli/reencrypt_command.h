// The re-encryption job on the command line: `reencrypt` (run or resume, --resume,
// --status, --control) and `--reencrypt` on the rotations, and the flags of the job runner
// (pipeline/job_runner.h) that every job command shares: throttle, live control socket, progress
// on stderr, SIGINT/SIGTERM, a stop file and a run time (stop at a batch boundary, checkpoint
// saved, exit 10). The job itself is pipeline::RunReencryption.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "cli/context.h"
#include "cli/metrics_outputs.h"
#include "engine/keyring.h"
#include "pipeline/job_runner.h"
#include "pipeline/reencrypt.h"

namespace udmg::cli {

// The flags of the job runner (pipeline/job_runner.h), taken by every job command (`reencrypt`,
// the rotations' --reencrypt, `sweep`) and registered by AddRunnerFlags alone.
struct RunnerFlags {
  double rate = 0;                           // rows per second, 0 = unlimited
  std::optional<std::string> target_batch_time;  // adaptive batch size toward it, e.g. "1s"
  std::optional<std::string> max_write_latency;  // pause while a write takes longer
  std::optional<std::string> critical_write_latency;  // stop (exit 10) once a write takes longer
  std::optional<std::string> pause_file;     // pause at a batch boundary while this file exists
  std::optional<std::string> max_replica_lag;  // PostgreSQL: pause while a replica lags more
  std::optional<std::string> run_time;       // stop starting batches after this long
  std::optional<std::string> stop_file;      // stop at a batch boundary once this file exists
  std::optional<std::string> control_socket;  // default: next to the SQLite file
  bool no_progress = false;
  MetricsFlags metrics;                      // --metrics-listen, --metrics-textfile, --pushgateway
};

// The flags of the re-encryption job: the runner's and its own.
struct JobFlags : RunnerFlags {
  size_t batch_size = 1000;
  size_t batches_in_flight = 4;
  std::optional<uint64_t> max_failures;
  bool include_plaintext = false;
  bool shared = false;                       // share the job with other processes (key ranges)
  bool dry_run = false;                      // print the plan, write nothing
  std::string lease = "30s";                 // a dead process's range is claimed after this
  uint64_t range_rows = 50000;               // stale rows per key range of a new shared job
  bool json = false;                         // the summary as one JSON document
  // With json: the summary is stored here instead of printed (a rotation's document holds it).
  nlohmann::json* json_summary = nullptr;
};

// Adds the runner's flags to `command` (every job command).
void AddRunnerFlags(CLI::App* command, RunnerFlags& flags);

// Adds the re-encryption job's flags (the runner's included) to `command`.
void AddJobFlags(CLI::App* command, JobFlags& flags);

// Adds --mark-stopped and --control, which act on the job another process runs, to a job
// command; `job_word` names that job in their help ("job", "sweep").
void AddJobControlFlags(CLI::App* command, const std::string& job_word, bool& mark_stopped,
                        std::optional<std::string>& control);

// kUsage, one line, for a runner flag that cannot work on this database (--max-replica-lag on
// SQLite), a bad duration or a lease that is not positive: checked before anything is written.
Status CheckRunnerFlags(const GlobalOptions& global, const RunnerFlags& flags);

// Starts the job runner the flags describe for the job of `kind`, with `batch_size` as the
// throttle's first batch size: from then on a signal, the stop file and the run time end the job,
// also in a database read. A sweep shows progress on a terminal only.
Result<std::unique_ptr<pipeline::JobRunner>> StartJobRunner(const GlobalOptions& global,
                                                            const RunnerFlags& flags,
                                                            size_t batch_size,
                                                            std::string_view kind);

// The metrics state of a job that ended with `error` instead of a report: stopped when it was
// stopped while it waited for the database (kIncomplete: a signal, the stop file or the run time
// cancelled the statement), else failed.
pipeline::JobRunState ErrorRunState(const Error& error);

// `--control LINE` of a job command: sends LINE to the running job's control socket and prints
// the reply.
Status SendControl(const GlobalOptions& global, const RunnerFlags& flags, const std::string& line);

// kUsage, one line, for a job flag that cannot work on this database (--max-replica-lag on
// SQLite), a bad duration or a lease that is not positive: checked before anything is written (a rotation with --reencrypt
// checks before it rotates).
Status CheckJobFlags(const GlobalOptions& global, const JobFlags& flags);

// The metrics outputs of flags.metrics, started (validated, listener bound) before the job
// touches the database; null when no metrics flag is set.
Result<std::unique_ptr<MetricsOutputs>> StartJobMetricsOutputs(const RunnerFlags& flags,
                                                               std::string_view kind);

// Runs (or resumes, per `mode`) the job of `kind` with `keyring`, its audit entries sealed by
// `signer`, printing progress on stderr and a summary on stdout. The exit status of
// pipeline::ReportStatus. `outputs` (may be null) are the metrics outputs started from
// flags.metrics before the database was touched: the job is exposed on them while it runs and they
// are finished when it ends, whatever the outcome.
Status RunJob(const GlobalOptions& global, const JobFlags& flags,
              std::shared_ptr<const Keyring> keyring, const db::AuditSigner& signer,
              pipeline::ResumeMode mode, std::string_view kind, MetricsOutputs* outputs = nullptr);

// `--dry-run` of the job of `kind` on the keyring as it is: prints the plan, writes nothing.
// `resume_only`: --resume, which fails (kNotFound) when no interrupted job exists.
Status RunJobDryRun(const GlobalOptions& global, const JobFlags& flags, std::string_view kind,
                    bool resume_only = false);

// `reencrypt`.
void AddReencryptCommand(CLI::App& app, const GlobalOptions& global,
                         std::function<Status()>& action);

// `reencrypt --mark-stopped`, `sweep --mark-stopped`: marks the running job of `kind` stopped in
// the database, for a job whose process died; kNotFound when none is running.
Status MarkJobStopped(const GlobalOptions& global, std::string_view kind);

}  // namespace udmg::cli
