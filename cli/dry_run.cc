#include "cli/dry_run.h"

#include <algorithm>
#include <iostream>
#include <string>

#include "base/time_text.h"
#include "pipeline/dry_run.h"

namespace udmg::cli {
namespace {

std::string JobLine(const db::JobRecord& job) {
  return std::string(job.kind) + " job " + std::to_string(job.id) + " (" +
         std::string(db::JobStateName(job.state)) + ", target master key version " +
         std::to_string(job.target_version) + ")";
}

}  // namespace

void PrintDryRunVersions(const KeyringRecords& before, const KeyringRecords& after) {
  std::cout << "dry run: nothing is written\n"
            << "master key version: active " << ActiveMasterVersion(before) << " -> "
            << ActiveMasterVersion(after) << "\n"
            << "root key version: current " << CurrentRootVersion(before) << " -> "
            << CurrentRootVersion(after) << "\n";
}

Status PrintJobDryRun(db::Store& store, std::shared_ptr<const Keyring> keyring,
                      const JobDryRun& job) {
  UDMG_ASSIGN_OR_RETURN(
      pipeline::JobPlan plan,
      pipeline::PlanJob(store, std::move(keyring), job.kind, job.target_version,
                        job.include_plaintext, job.batch_size, kDryRunSampleRows));
  for (const pipeline::PlannedColumn& column : plan.columns) {
    std::cout << column.column.Name() << ": ";
    if (!column.missing.empty()) {
      std::cout << "MISSING: " << column.missing << "\n";
    } else {
      std::cout << column.stale << " values not on master key version " << plan.target_version
                << "\n";
    }
  }
  uint64_t to_move = plan.stale;
  if (job.max_rows) to_move = std::min(to_move, *job.max_rows);
  std::cout << "stale values: " << plan.stale;
  if (to_move != plan.stale) std::cout << " (this run would examine " << to_move << ": --max-rows)";
  std::cout << "\n";
  if (plan.superseded) {
    std::cout << "job: would close " << JobLine(*plan.superseded)
              << " as failed (its target is no longer active)\n";
  }
  if (plan.resumed) {
    std::cout << "job: would resume " << JobLine(*plan.resumed) << "\n";
  } else if (plan.stale == 0 && job.kind == "sweep") {
    std::cout << "job: none (nothing to sweep)\n";
  } else {
    std::cout << "job: would create a " << job.kind << " job to master key version "
              << plan.target_version << "\n";
  }
  std::optional<double> seconds = pipeline::EstimateSeconds(plan.sample, to_move, job.rate);
  std::cout << "estimate: ";
  if (!seconds) {
    std::cout << "unknown (no value could be sampled)\n";
  } else {
    std::cout << "about " << SecondsText(*seconds) << " for " << to_move << " values (an estimate: "
              << plan.sample.values << " values read, decrypted and encrypted in "
              << SecondsText(plan.sample.elapsed)
              << ", nothing written; writes and parallel stages not measured"
              << (job.rate > 0 ? ", --rate applied" : "") << ")\n";
  }
  return Status::Ok();
}

}  // namespace udmg::cli
