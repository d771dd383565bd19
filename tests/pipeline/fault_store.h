// A db::Store that forwards to a real connection (ForwardingStore) and lets a test inject what a
// re-encryption job must survive: a failed compare-and-swap or fetch at the n-th call, a
// concurrent writer right before a write-back, and counts of the calls. The faults are shared by
// every connection the job opens (reader and writer), so counts are global to the job.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "db/store.h"
#include "tests/db/forwarding_store.h"

namespace udmg::testing {

// Thread-safety: the counters are atomics; the hooks are set before the job starts and called
// from the pipeline's stage threads (each hook from one stage).
struct StoreFaults {
  int fail_cas_at = 0;    // 1-based CompareAndSwap call that fails with kDatabase; 0: none
  int fail_fetch_at = 0;  // 1-based FetchStale call that fails with kDatabase; 0: none
  // Called before each CompareAndSwap with its 1-based call number.
  std::function<void(int call, std::span<const db::CasWrite> writes)> before_cas;
  // Called after each successful non-empty FetchStale with the number of rows.
  std::function<void(size_t rows)> after_fetch;
  std::atomic<int> cas_calls{0};
  std::atomic<int> fetch_calls{0};
  std::atomic<int> checkpoints{0};
  std::atomic<int> count_stale_calls{0};
};

class FaultStore : public db::testing::ForwardingStore {
 public:
  FaultStore(std::unique_ptr<db::Store> inner, std::shared_ptr<StoreFaults> faults)
      : ForwardingStore(std::move(inner)), faults_(std::move(faults)) {}

  Result<uint64_t> CountStale(const db::ColumnRef& column, const db::StaleFilter& filter) override {
    ++faults_->count_stale_calls;
    return ForwardingStore::CountStale(column, filter);
  }
  Result<std::vector<db::CasOutcome>> CompareAndSwapChecked(
      const db::ColumnRef& column, std::span<const db::CasWrite> writes) override {
    int call = ++faults_->cas_calls;
    if (faults_->before_cas) faults_->before_cas(call, writes);
    if (call == faults_->fail_cas_at) {
      return Error{ErrorCode::kDatabase, "injected write failure at call " + std::to_string(call)};
    }
    return ForwardingStore::CompareAndSwapChecked(column, writes);
  }
  // An injected failure is the batch's, never one row's: the row-by-row write after a failed
  // batch (pipeline/flow_graph.cc) fails too, so the batch's own error stands.
  Result<db::RowWriteResult> CompareAndSwapOne(const db::ColumnRef&,
                                               const db::CasWrite&) override {
    return Error{ErrorCode::kDatabase, "injected: no row-by-row write"};
  }
  Result<std::vector<db::StoredValue>> FetchStale(const db::ColumnRef& column,
                                                  const db::StaleFilter& filter,
                                                  const std::optional<db::RowKey>& after,
                                                  size_t limit) override {
    int call = ++faults_->fetch_calls;
    if (call == faults_->fail_fetch_at) {
      return Error{ErrorCode::kDatabase, "injected read failure at call " + std::to_string(call)};
    }
    auto rows = ForwardingStore::FetchStale(column, filter, after, limit);
    if (rows.ok() && !rows->empty() && faults_->after_fetch) faults_->after_fetch(rows->size());
    return rows;
  }
  Status SaveCheckpoint(int64_t job_id, const db::ColumnRef& column,
                        const std::optional<db::RowKey>& checkpoint, uint64_t migrated,
                        uint64_t conflicts, uint64_t failed, bool scanned) override {
    ++faults_->checkpoints;
    return ForwardingStore::SaveCheckpoint(job_id, column, checkpoint, migrated, conflicts,
                                           failed, scanned);
  }

 private:
  std::shared_ptr<StoreFaults> faults_;
};

}  // namespace udmg::testing
