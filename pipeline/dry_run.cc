#include "pipeline/dry_run.h"

#include <algorithm>
#include <utility>

#include "engine/value_cipher.h"
#include "pipeline/flow_batch.h"
#include "pipeline/job_state.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {
namespace {

// Reads up to `limit` stale values of `column` in batches and transforms them in memory.
Status SampleColumn(db::Store& store, ValueCipher& cipher, const db::ColumnRef& column,
                    const db::StaleFilter& filter, size_t batch_size, uint64_t limit,
                    WorkSample& sample) {
  std::optional<db::RowKey> after;
  while (sample.values < limit) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(batch_size, limit - sample.values));
    const auto start = std::chrono::steady_clock::now();
    Batch batch;
    UDMG_ASSIGN_OR_RETURN(batch.rows, store.FetchStale(column, filter, after, want));
    if (batch.rows.empty()) return Status::Ok();
    after = batch.rows.back().key;
    const size_t read = batch.rows.size();
    UDMG_RETURN_IF_ERROR(TransformBatch(cipher, column, filter, batch));
    sample.elapsed += std::chrono::steady_clock::now() - start;
    sample.values += read;
    if (read < want) return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Result<JobPlan> PlanJob(db::Store& store, std::shared_ptr<const Keyring> keyring,
                        std::string_view kind, uint32_t target_version, bool include_plaintext,
                        size_t batch_size, uint64_t sample_rows) {
  JobPlan plan;
  plan.target_version = target_version;
  const db::StaleFilter filter{target_version, include_plaintext};
  UDMG_ASSIGN_OR_RETURN(std::vector<db::ColumnRef> columns, store.ListColumns());
  ValueCipher cipher(std::move(keyring));
  for (const db::ColumnRef& column : columns) {
    PlannedColumn planned{column, "", 0};
    UDMG_ASSIGN_OR_RETURN(planned.missing, MissingReason(store, column));
    if (planned.missing.empty()) {
      UDMG_ASSIGN_OR_RETURN(planned.stale, store.CountStale(column, filter));
      plan.stale += planned.stale;
      UDMG_RETURN_IF_ERROR(
          SampleColumn(store, cipher, column, filter, batch_size, sample_rows, plan.sample));
    }
    plan.columns.push_back(std::move(planned));
  }
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> unfinished, store.FindLatestJobNotDone(kind));
  if (unfinished && IsResumableJob(*unfinished)) {
    if (unfinished->target_version == target_version) {
      plan.resumed = std::move(unfinished);
    } else {
      plan.superseded = std::move(unfinished);
    }
  }
  return plan;
}

std::optional<double> EstimateSeconds(const WorkSample& sample, uint64_t values,
                                      double rows_per_second) {
  if (values == 0) return 0.0;
  if (sample.values == 0) return std::nullopt;
  double seconds = std::chrono::duration<double>(sample.elapsed).count() *
                   static_cast<double>(values) / static_cast<double>(sample.values);
  if (rows_per_second > 0) seconds = std::max(seconds, static_cast<double>(values) / rows_per_second);
  return seconds;
}

}  // namespace udmg::pipeline
