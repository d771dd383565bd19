// A db::Store that forwards to a real connection and lets a test inject what a re-encryption job
// must survive: a failed compare-and-swap or fetch at the n-th call, a concurrent writer right
// before a write-back, and counts of the calls. The faults are shared by every connection the job
// opens (reader and writer), so counts are global to the job.
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
};

class FaultStore : public db::Store {
 public:
  FaultStore(std::unique_ptr<db::Store> inner, std::shared_ptr<StoreFaults> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  Result<std::vector<bool>> CompareAndSwap(const db::ColumnRef& column,
                                           std::span<const db::CasWrite> writes) override {
    int call = ++faults_->cas_calls;
    if (faults_->before_cas) faults_->before_cas(call, writes);
    if (call == faults_->fail_cas_at) {
      return Error{ErrorCode::kDatabase, "injected write failure at call " + std::to_string(call)};
    }
    return inner_->CompareAndSwap(column, writes);
  }
  Result<std::vector<db::StoredValue>> FetchStale(const db::ColumnRef& column,
                                                  const db::StaleFilter& filter,
                                                  const std::optional<db::RowKey>& after,
                                                  size_t limit) override {
    int call = ++faults_->fetch_calls;
    if (call == faults_->fail_fetch_at) {
      return Error{ErrorCode::kDatabase, "injected read failure at call " + std::to_string(call)};
    }
    auto rows = inner_->FetchStale(column, filter, after, limit);
    if (rows.ok() && !rows->empty() && faults_->after_fetch) faults_->after_fetch(rows->size());
    return rows;
  }
  Status SaveCheckpoint(int64_t job_id, const db::ColumnRef& column,
                        const std::optional<db::RowKey>& checkpoint, uint64_t migrated,
                        uint64_t conflicts, uint64_t failed, bool scanned) override {
    ++faults_->checkpoints;
    return inner_->SaveCheckpoint(job_id, column, checkpoint, migrated, conflicts, failed,
                                  scanned);
  }

  // Plain forwarding from here on.
  std::string Describe() const override { return inner_->Describe(); }
  Status Migrate() override { return inner_->Migrate(); }
  Result<std::optional<KeyringRecords>> LoadKeyring() override { return inner_->LoadKeyring(); }
  Result<int64_t> KeyringRevision() override { return inner_->KeyringRevision(); }
  Status UpdateKeyring(const KeyringChange& change) override {
    return inner_->UpdateKeyring(change);
  }
  Status AddEncryptions(const std::map<uint32_t, uint64_t>& by_version) override {
    return inner_->AddEncryptions(by_version);
  }
  Result<std::map<uint32_t, uint64_t>> LoadEncryptions() override {
    return inner_->LoadEncryptions();
  }
  Result<std::vector<db::ColumnRef>> ListColumns() override { return inner_->ListColumns(); }
  Status AddColumn(const db::ColumnRef& column) override { return inner_->AddColumn(column); }
  Status RemoveColumn(std::string_view table, std::string_view column) override {
    return inner_->RemoveColumn(table, column);
  }
  Result<db::ColumnRef> FindColumn(std::string_view table, std::string_view column) override {
    return inner_->FindColumn(table, column);
  }
  Result<std::optional<db::StoredValue>> ReadValue(const db::ColumnRef& column,
                                                   const db::RowKey& key) override {
    return inner_->ReadValue(column, key);
  }
  Status WriteValue(const db::ColumnRef& column, const db::RowKey& key,
                    const std::optional<std::string>& value) override {
    return inner_->WriteValue(column, key, value);
  }
  Result<std::vector<db::StoredValue>> FetchValues(const db::ColumnRef& column,
                                                   const std::optional<db::RowKey>& after,
                                                   size_t limit) override {
    return inner_->FetchValues(column, after, limit);
  }
  Result<uint64_t> CountStale(const db::ColumnRef& column,
                              const db::StaleFilter& filter) override {
    return inner_->CountStale(column, filter);
  }
  Result<db::ValueCounts> CountValues(const db::ColumnRef& column) override {
    return inner_->CountValues(column);
  }
  Status CreateDemoTable() override { return inner_->CreateDemoTable(); }
  Status InsertDemoRows(std::span<const db::DemoRow> rows) override {
    return inner_->InsertDemoRows(rows);
  }
  Result<int64_t> CreateJob(std::string_view kind, uint32_t target_version,
                            const std::vector<db::ColumnRef>& columns) override {
    return inner_->CreateJob(kind, target_version, columns);
  }
  Result<std::optional<db::JobRecord>> FindUnfinishedJob(std::string_view kind) override {
    return inner_->FindUnfinishedJob(kind);
  }
  Result<std::optional<db::JobRecord>> FindLatestFinishedJob(std::string_view kind) override {
    return inner_->FindLatestFinishedJob(kind);
  }
  Result<std::optional<db::JobRecord>> LoadJob(int64_t job_id) override {
    return inner_->LoadJob(job_id);
  }
  Status SetJobState(int64_t job_id, std::string_view state) override {
    return inner_->SetJobState(job_id, state);
  }
  Status RecordFailure(const db::FailureRecord& failure) override {
    return inner_->RecordFailure(failure);
  }
  Result<std::vector<db::FailureRecord>> ListFailures(int64_t job_id) override {
    return inner_->ListFailures(job_id);
  }

 private:
  std::unique_ptr<db::Store> inner_;
  std::shared_ptr<StoreFaults> faults_;
};

}  // namespace udmg::testing
