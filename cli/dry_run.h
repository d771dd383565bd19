// `--dry-run` of the job commands and the rotations: prints the plan — master and root versions
// before and after, stale values per column, the job that would be resumed or created, and an
// estimate of its duration from a timed sample — and writes nothing (docs/reencryption.md,
// "Dry runs").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::cli {

// What the job of a dry run would be given.
struct JobDryRun {
  std::string_view kind;        // "reencrypt" or "sweep"
  uint32_t target_version = 0;  // the active master version once the command's rotation is made
  bool include_plaintext = false;
  size_t batch_size = 1000;
  double rate = 0;                   // rows per second, 0 = unlimited
  std::optional<uint64_t> max_rows;  // sweep --max-rows
};

// Rows read and transformed in memory for the estimate, at most.
inline constexpr uint64_t kDryRunSampleRows = 3000;

// "dry run: nothing is written" and the versions before and after (equal when nothing rotates).
void PrintDryRunVersions(const KeyringRecords& before, const KeyringRecords& after);

// Plans the job (pipeline::PlanJob) and prints it: per column the values it would move, the job
// it would resume or create, and the estimate. `keyring` decrypts the sample.
Status PrintJobDryRun(db::Store& store, std::shared_ptr<const Keyring> keyring,
                      const JobDryRun& job);

}  // namespace udmg::cli
