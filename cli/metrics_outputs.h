// The metrics outputs of a job command (docs/operator-guide.md "Metrics and HTTP
// control"): `--metrics-listen ADDR:PORT` (GET /metrics and the /control/... routes while the job
// runs), `--metrics-textfile PATH` (node_exporter textfile at the end) and `--pushgateway URL`
// (Pushgateway POST at the end, add semantics). Also the `metrics` command (key state for cron).
//
// Order of a job command: MetricsOutputs::Start first (bad input and a busy address are refused
// before the database is touched), then AttachJob once the job's throttle exists, then Finish
// when the run ended, whatever the outcome (the job state says how it ended).
//
// Thread-safety: one controlling thread calls Start/AttachJob/SetKeyState/Finish; HTTP requests
// run on the exposer's threads and only read what is attached (under a mutex).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/mutex.h"
#include "base/status.h"
#include "cli/context.h"
#include "engine/secret.h"
#include "metrics/exposer.h"
#include "metrics/gateway.h"
#include "metrics/registry.h"
#include "pipeline/control.h"
#include "pipeline/job_metrics.h"
#include "pipeline/key_state_metrics.h"

namespace udmg::cli {

struct MetricsFlags {
  std::optional<std::string> listen;       // ADDR:PORT, port 0 picks a free one
  std::optional<std::string> textfile;     // PATH of the node_exporter textfile
  std::optional<std::string> pushgateway;  // http://HOST[:PORT][/PREFIX]
  std::optional<std::string> control_token_file;  // PATH: /control/... then need the bearer token
  std::optional<std::string> linger;       // keep serving this long after the job ended
  bool any() const { return listen || textfile || pushgateway || control_token_file || linger; }
};

// How long the listener keeps serving the final metrics after the job ended, unless
// --metrics-linger says otherwise: two scrapes of a 15 s scrape interval.
inline constexpr std::chrono::seconds kDefaultMetricsLinger{30};

// The header every control request that changes something must carry: a browser form posted by
// another web page cannot send it, so such a page cannot steer the job (cross-site request).
inline constexpr char kControlHeader[] = "X-Udmg-Control";

void AddMetricsFlags(CLI::App* command, MetricsFlags& flags);

// kBadInput, one line naming `flag`, when the textfile cannot be written where asked: its
// directory missing, not a directory or not writable, or PATH itself a directory.
Status CheckTextfilePath(const std::string& path, std::string_view flag);

class MetricsOutputs {
 public:
  // Validates every flag (kBadInput: malformed ADDR:PORT or URL, textfile directory, a control
  // token file that is missing, readable by others, empty or not one line of printable text;
  // kUsage: a token file without --metrics-listen), then binds the listener (kConflict when the
  // address is in use) and prints "metrics: listening on http://ADDR:PORT/metrics" on stderr,
  // ADDR being the address really bound. `job_kind` is "reencrypt" or
  // "sweep". With no flag set it still works (collects, writes nothing).
  static Result<std::unique_ptr<MetricsOutputs>> Start(const MetricsFlags& flags,
                                                       std::string job_kind);
  ~MetricsOutputs();  // Detaches and stops the listener.
  MetricsOutputs(const MetricsOutputs&) = delete;
  MetricsOutputs& operator=(const MetricsOutputs&) = delete;

  const std::string& job_kind() const { return job_kind_; }
  metrics::Registry& registry() { return *registry_; }

  // Exposes `job` and serves `control` (may be null: the control routes then answer 503) until
  // Finish. Both must stay alive until Finish or the destructor.
  void AttachJob(std::shared_ptr<pipeline::JobMetrics> job, pipeline::ControlCommands* control);

  // At the start of the run: reads the key state from `store`, registers the job's metrics (a
  // zero series per registered column; rows remaining come with the run's first progress
  // snapshot) and attaches them with `control` (see AttachJob). `throttle` may be null.
  Result<std::shared_ptr<pipeline::JobMetrics>> StartJob(db::Store& store,
                                                         const pipeline::Throttle* throttle,
                                                         size_t batch_size,
                                                         pipeline::ControlCommands* control);

  // Reads the key state from `store` (at the start and at the end of a run). A failed read is a
  // warning: the previous state stays.
  void RefreshKeyState(db::Store& store);
  // This run, started at `run_started` (Unix seconds), ended with every value migrated: the
  // time its job row shows (read by RefreshKeyState), or now when it has none (an idle sweep).
  void RecordSuccess(int64_t run_started);

  // At the end of the run: `state` becomes the job state, the textfile is written and the
  // Pushgateway pushed (a failed run leaves udmg_last_success_timestamp_seconds out of the push,
  // so the Pushgateway keeps the previous one); then the job is detached and the listener stops.
  // Failures here are warnings on stderr: they never change the job's exit status. With a
  // listener and `may_linger` (false when a signal or the stop file ended the job: the operator
  // wants it gone), the final metrics are served for the linger first (--metrics-linger,
  // kDefaultMetricsLinger by default); SIGINT or SIGTERM end the linger at once.
  void Finish(pipeline::JobRunState state, bool may_linger = true);

 private:
  MetricsOutputs(std::string job_kind, std::optional<std::string> textfile);
  void Linger();
  void AddControlRoutes();
  // nullopt when `request` may reach the job; else the refusal (403 / 401).
  std::optional<metrics::HttpReply> Refusal(const metrics::HttpRequest& request) const;
  metrics::HttpReply Control(const std::string& command);
  std::vector<metrics::MetricFamily> CollectAll() const;
  void Detach();

  const std::string job_kind_;
  const std::optional<std::string> textfile_;
  std::shared_ptr<metrics::Registry> registry_;
  std::shared_ptr<pipeline::KeyStateCollector> key_state_;
  std::unique_ptr<metrics::Gateway> gateway_;
  std::unique_ptr<metrics::Exposer> exposer_;
  std::optional<SecretBytes> control_token_;  // from --control-token-file
  std::chrono::seconds linger_{0};

  mutable base::Mutex mutex_;
  std::shared_ptr<pipeline::JobMetrics> job_ GUARDED_BY(mutex_);
  pipeline::ControlCommands* control_ GUARDED_BY(mutex_) = nullptr;
  bool finished_ GUARDED_BY(mutex_) = false;
};

// One job run's side of the outputs, for the job commands: opens its own connection for the key
// state, starts the job's metrics (StartJob), instruments the pipeline's hooks, and finishes the
// outputs at the end; the destructor finishes them as "failed" if Finish was not called (an early
// return). Declare it after the throttle and control commands it points to, so it ends first.
// Without outputs (null) it does nothing. Problems are warnings: metrics never fail a job.
class JobMetricsRun {
 public:
  JobMetricsRun(MetricsOutputs* outputs, const std::string& database_url,
                const pipeline::Throttle* throttle, size_t batch_size,
                pipeline::ControlCommands* control);
  ~JobMetricsRun();
  JobMetricsRun(const JobMetricsRun&) = delete;
  JobMetricsRun& operator=(const JobMetricsRun&) = delete;

  // Chains the metrics into `hooks` and points `batches_in_flight` at the job's gauge.
  void Instrument(pipeline::ReencryptHooks& hooks, std::atomic<int64_t>*& batches_in_flight);
  // The lock gauges read `board` (it must outlive this object).
  void WatchLockWaits(const pipeline::LockWaitBoard* board) {
    if (job_) job_->WatchLockWaits(board);
  }
  // Re-reads the key state, records a success (kDone), writes/pushes and stops the listener
  // (after its linger when `may_linger`: see MetricsOutputs::Finish).
  void Finish(pipeline::JobRunState state, bool may_linger = true);

 private:
  MetricsOutputs* outputs_;
  const int64_t started_;  // Unix seconds
  std::unique_ptr<db::Store> store_;
  std::shared_ptr<pipeline::JobMetrics> job_;
};

// `udmg-server metrics [--textfile PATH]`.
void AddMetricsCommand(CLI::App& app, const GlobalOptions& global,
                       std::function<Status()>& action);

}  // namespace udmg::cli
