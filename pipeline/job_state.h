// The job rows of the re-encryption pipeline: start a job or pick up an interrupted one, the
// failures it already recorded, and the final count of what is left. Internal to pipeline/.
//
// Thread-safety: free functions on a Store the caller owns (not thread-safe).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "db/store.h"
#include "engine/value_cipher.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {

struct JobStart {
  db::JobRecord job;  // columns in job order, with their stored checkpoints
  bool resumed = false;
};

// kNotFound, naming the fix, for the first column whose table, value column or key column the
// database no longer has (dropped or renamed since it was registered).
Status RequireColumnsExist(db::Store& store, const std::vector<db::ColumnRef>& columns);

// Resumes the newest interrupted job of options.job_kind (unless kStartNew) or creates one over
// options.columns (every registered column when empty). An interrupted job aimed at another
// version than `target_version` (a rotation happened since) is closed as "failed" and a new job
// over its columns starts (it rescans them: values the old job migrated are stale again).
// Columns unregistered since the job was created are left out (never written again); a column
// the database no longer has is an error (RequireColumnsExist), before any job row is written.
// kNotFound for kResumeOnly without an interrupted job, or for a column that is not registered.
Result<JobStart> StartOrResumeJob(db::Store& store, const ReencryptOptions& options,
                                  uint32_t target_version);

// A shared job (options.shared): the newest interrupted shared job of options.job_kind aimed at
// `target_version`, or a new one over options.columns (every registered column when empty) split
// into key ranges of options.rows_per_range stale rows; processes starting at once join one job.
Result<JobStart> JoinSharedJob(db::Store& store, const ReencryptOptions& options,
                               uint32_t target_version);

// The keys of one column recorded in udmg_reencrypt_failures for a job.
struct RecordedFailures {
  std::set<db::RowKey> keys;            // every class
  // Of those, kWriteRefused and kWriteAltered (IsWriteFailure): never written again by the job.
  std::set<db::RowKey> refused_writes;
  std::set<db::RowKey> altered_writes;  // of those, kWriteAltered: unmigratable whatever they hold
};
// By column name ("table.column").
Result<std::map<std::string, RecordedFailures>> RecordedFailureKeys(db::Store& store,
                                                                    int64_t job_id);

struct RemainingCount {
  uint64_t remaining = 0;     // stale values a further pass can migrate
  // Stale values that are recorded failures and still do not decrypt, and every row a trigger
  // changed after the job wrote it (kWriteAltered).
  uint64_t unmigratable = 0;
  uint64_t unaddressable = 0;  // stale values in rows whose key is NULL: no scan can reach them
};

// The final count of a column: CountStale (or `known_stale`, when the caller knows it exactly),
// less the recorded failures whose current value is still stale and still does not decrypt or
// whose write the database refused (one that a writer replaced, or that now decrypts, counts as
// remaining: a further pass picks it up).
Result<RemainingCount> CountRemaining(db::Store& store, ValueCipher& cipher,
                                      const db::ColumnRef& column, const db::StaleFilter& filter,
                                      const RecordedFailures& recorded_failures,
                                      std::optional<uint64_t> known_stale = std::nullopt);

}  // namespace udmg::pipeline
