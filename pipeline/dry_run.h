// What a job command would do, without doing it (`--dry-run` of reencrypt, sweep and the
// rotations with --reencrypt): the stale values per column, the job it would resume or create,
// and an estimate of its duration from a timed sample. Reads only: no job row, no checkpoint, no
// value and no encryption count is written.
//
// Thread-safety: free functions on a Store the caller owns (not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::pipeline {

struct PlannedColumn {
  db::ColumnRef column;
  std::string missing;  // why the column cannot be scanned (table or column gone), else ""
  uint64_t stale = 0;   // values a job to the target version would touch
};

// A timed sample of the work: a few batches read and decrypted + encrypted in memory, nothing
// written. Fetch and crypto only; the writes and the pipeline's parallelism are not measured.
struct WorkSample {
  uint64_t values = 0;
  std::chrono::steady_clock::duration elapsed{};
};

struct JobPlan {
  uint32_t target_version = 0;
  std::vector<PlannedColumn> columns;
  uint64_t stale = 0;                         // sum over the columns
  std::optional<db::JobRecord> resumed;       // the interrupted job the run would continue
  std::optional<db::JobRecord> superseded;    // an interrupted job on another target: closed failed
  WorkSample sample;
};

// The plan of a job of `kind` to `target_version`. `keyring` decrypts the sample (its active
// version encrypts it; the ciphertexts are thrown away). `sample_rows` values at most are read.
Result<JobPlan> PlanJob(db::Store& store, std::shared_ptr<const Keyring> keyring,
                        std::string_view kind, uint32_t target_version, bool include_plaintext,
                        size_t batch_size, uint64_t sample_rows);

// Estimated seconds to move `values` at the sample's pace, and no faster than `rows_per_second`
// (0: no limit); nullopt when the sample is empty and there is work.
std::optional<double> EstimateSeconds(const WorkSample& sample, uint64_t values,
                                      double rows_per_second);

}  // namespace udmg::pipeline
