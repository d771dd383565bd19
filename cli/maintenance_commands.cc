// sweep and verify: the cron-sized gradual migration and the full decryption check. Their lines
// are meant to be pasted into a ticket as they are.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/dry_run.h"
#include "cli/duration.h"
#include "cli/json_reports.h"
#include "cli/metrics_outputs.h"
#include "cli/output.h"
#include "cli/reencrypt_command.h"
#include "pipeline/sweep.h"
#include "pipeline/verify.h"

namespace udmg::cli {
namespace {

// The job runner's flags (as `reencrypt`'s) and the sweep's own bounds.
struct SweepArgs : RunnerFlags {
  std::optional<uint64_t> max_rows;
  std::optional<std::string> max_duration;
  size_t batch_size = 1000;
  bool include_plaintext = false;
  bool mark_stopped = false;
  bool json = false;
  bool dry_run = false;
  std::optional<std::string> control;  // a command for the running sweep's control socket
};

// How a sweep ended, as a job state: done (every stale value examined, none failed), stopped (a
// bound or a rotation: the next sweep resumes), failed (values that do not decrypt).
pipeline::JobRunState SweepRunState(const pipeline::SweepReport& report) {
  if (report.failed > 0) return pipeline::JobRunState::kFailed;
  if (report.stop != pipeline::SweepStop::kScannedAll) return pipeline::JobRunState::kStopped;
  return pipeline::JobRunState::kDone;
}

Status RunSweepDryRun(const GlobalOptions& global, const SweepArgs& args) {
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  PrintDryRunVersions(view.records, view.records);
  JobDryRun job{pipeline::kSweepJobKind, view.keyring->active_version(), args.include_plaintext,
                args.batch_size, args.rate, args.max_rows};
  return PrintJobDryRun(*view.store, view.keyring, job);
}

void PrintSweepReport(const pipeline::SweepReport& report);

Status RunSweep(const GlobalOptions& global, const SweepArgs& args) {
  UDMG_RETURN_IF_ERROR(CheckRunnerFlags(global, args));
  // Before the database is opened: a bad flag or a busy port changes nothing.
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<MetricsOutputs> outputs,
                        StartJobMetricsOutputs(args, pipeline::kSweepJobKind));
  pipeline::SweepOptions options;
  options.database_url = db::ResolveDatabaseUrl(global.database_url);
  options.max_rows = args.max_rows;
  options.batch_size = args.batch_size;
  options.include_plaintext = args.include_plaintext;
  if (args.max_duration) {
    UDMG_ASSIGN_OR_RETURN(options.max_duration, ParseDuration(*args.max_duration));
  }
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  // Before any database read of the sweep (the metrics' key state too).
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<pipeline::JobRunner> runner,
                        StartJobRunner(global, args, args.batch_size,
                                                       pipeline::kSweepJobKind));
  if (runner->run_time() > pipeline::Duration::zero()) options.run_time = runner->run_time();
  options.stop = runner->stop_flag();
  JobMetricsRun metrics_run(outputs.get(), options.database_url, &runner->throttle(),
                            args.batch_size, &runner->commands());
  metrics_run.WatchLockWaits(&runner->lock_waits());
  runner->Instrument(options.hooks);
  metrics_run.Instrument(options.hooks, options.batches_in_flight_now);
  Result<pipeline::SweepReport> swept =
      runner->Run([&] { return pipeline::Sweep(*client, options); });
  metrics_run.Finish(swept.ok() ? SweepRunState(*swept) : ErrorRunState(swept.error()),
                     /*may_linger=*/!runner->StopRequested());
  UDMG_ASSIGN_OR_RETURN(pipeline::SweepReport report, std::move(swept));
  SetLogJobId(report.job_id);
  if (args.json) {
    PrintJson(SweepJson(report));
  } else {
    PrintSweepReport(report);
  }
  return pipeline::SweepStatus(report, runner->WhyStopped());
}

void PrintSweepReport(const pipeline::SweepReport& report) {
  for (const pipeline::SweepColumnReport& column : report.columns) {
    std::cout << column.column.Name() << ": migrated " << column.migrated << ", conflicts "
              << column.conflicts << ", failed " << column.failed << ", remaining "
              << column.remaining << "\n";
  }
  for (const pipeline::SweepFailure& failure : report.failures) {
    std::cout << "failed " << RowName(failure.column, failure.key) << " version "
              << failure.version << ": " << failure.error_class << "\n";
  }
  if (report.failures.size() < report.failed) {
    std::cout << "(" << report.failed - report.failures.size() << " more failures not listed)\n";
  }
  std::cout << "sweep to master key version " << report.target_version << " "
            << pipeline::SweepStopName(report.stop) << ": migrated " << report.migrated
            << ", conflicts " << report.conflicts << ", failed " << report.failed
            << ", remaining " << report.remaining << "\n";
}

std::string ExampleKeys(const pipeline::VersionFailures& failures) {
  std::string text;
  for (const db::RowKey& key : failures.example_keys) {
    text += (text.empty() ? "" : ", ") + db::RowKeyText(key);
  }
  return text;
}

void PrintColumn(const pipeline::ColumnVerification& column) {
  std::cout << column.column.Name() << ": ok " << column.ok();
  for (const auto& [version, count] : column.ok_by_version) {
    std::cout << (version == column.ok_by_version.begin()->first ? " (" : ", ") << "v" << version
              << " " << count;
  }
  if (!column.ok_by_version.empty()) std::cout << ")";
  std::cout << ", plaintext " << column.plaintext << ", failed " << column.failed() << "\n";
  for (const auto& [version, failures] : column.failed_by_version) {
    std::string label = version == 0 ? std::string("malformed") : "v" + std::to_string(version);
    std::cout << "  failed " << label << ": " << failures.count << " (";
    bool first = true;
    for (const auto& [error_class, count] : failures.by_class) {
      std::cout << (first ? "" : ", ") << error_class << " " << count;
      first = false;
    }
    std::cout << "), e.g. " << column.column.key_column << " " << ExampleKeys(failures) << "\n";
  }
  if (column.unaddressable > 0) {
    std::cout << "  unaddressable: " << column.unaddressable << " value(s) in rows whose "
              << column.column.key_column << " is NULL (no command can read or check them)\n";
  }
}

Status RunVerify(const GlobalOptions& global, bool as_json) {
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  UDMG_ASSIGN_OR_RETURN(pipeline::VerifyReport report, pipeline::Verify(*client, {}));
  if (as_json) {
    PrintJson(VerifyJson(report));
  } else {
    for (const pipeline::ColumnVerification& column : report.columns) PrintColumn(column);
    std::cout << "verify: ok " << report.ok() << ", plaintext " << report.plaintext()
              << ", failed " << report.failed() << "\n";
  }
  const std::string where = as_json ? "in the JSON document" : "listed above";
  if (report.unaddressable() > 0) {
    return Error{ErrorCode::kCorruptValue,
                 std::to_string(report.unaddressable()) +
                     " value(s) sit in rows whose key is NULL and were not checked (" + where +
                     "): give those rows a key, or clear the values"};
  }
  if (report.failed() > 0) {
    return Error{ErrorCode::kCorruptValue,
                 std::to_string(report.failed()) + " value(s) did not decrypt (" + where +
                     "): restore them from a backup"};
  }
  return Status::Ok();
}

// What `sweep` does with its flags: a control for the running sweep, the plan, or the sweep.
Status RunSweepCommand(const GlobalOptions& global, const SweepArgs& args) {
  if (args.mark_stopped) return MarkJobStopped(global, pipeline::kSweepJobKind);
  if (args.control) return SendControl(global, args, *args.control);
  if (args.dry_run) return RunSweepDryRun(global, args);
  return RunSweep(global, args);
}

}  // namespace

void AddMaintenanceCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto [sweep, args] = AddCommand<SweepArgs>(
      app, action, "sweep",
      "migrate stale values to the active master key, in a bounded run (for cron)",
      [&global](const SweepArgs& args) { return RunSweepCommand(global, args); });
  sweep->add_option("--max-rows", args->max_rows, "examine at most N stale values");
  sweep->add_option("--max-duration", args->max_duration,
                    "start no batch after D (90s, 5m, 1h30m or seconds)");
  sweep->add_option("--batch-size", args->batch_size, "values per compare-and-swap batch")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  sweep->add_flag("--include-plaintext", args->include_plaintext,
                  "also encrypt legacy plaintext values");
  sweep->add_flag("--json", args->json, "print the summary as one JSON document (docs/json.md)");
  sweep->add_flag("--dry-run", args->dry_run,
                  "print the plan (stale values per column, the job, an estimate) and write "
                  "nothing");
  AddJobControlFlags(sweep, "sweep", args->mark_stopped, args->control);
  AddRunnerFlags(sweep, *args);

  CLI::App* verify = app.add_subcommand(
      "verify", "decrypt every registered value and report failures (exit 5 if any)");
  auto verify_json = std::make_shared<bool>(false);
  verify->add_flag("--json", *verify_json, "print one JSON document (docs/json.md)");
  verify->callback([&, verify_json] {
    action = [&, verify_json] { return RunVerify(global, *verify_json); };
  });
}

}  // namespace udmg::cli
