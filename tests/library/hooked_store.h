// A db::Store that forwards to a real one and runs a hook just before CompareAndSwap, so a test
// can play the concurrent writer that changes a row between read and write-back.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "db/store.h"

namespace udmg::testing {

class HookedStore : public db::Store {
 public:
  HookedStore(std::unique_ptr<db::Store> inner, std::function<void()> before_cas)
      : inner_(std::move(inner)), before_cas_(std::move(before_cas)) {}

  Result<std::vector<bool>> CompareAndSwap(const db::ColumnRef& column,
                                           std::span<const db::CasWrite> writes) override {
    if (before_cas_) before_cas_();
    return inner_->CompareAndSwap(column, writes);
  }

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
  Result<std::vector<db::StoredValue>> FetchStale(const db::ColumnRef& column,
                                                  const db::StaleFilter& filter,
                                                  const std::optional<db::RowKey>& after,
                                                  size_t limit) override {
    return inner_->FetchStale(column, filter, after, limit);
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
  Status SaveCheckpoint(int64_t job_id, const db::ColumnRef& column,
                        const std::optional<db::RowKey>& checkpoint, uint64_t migrated,
                        uint64_t conflicts, uint64_t failed, bool scanned) override {
    return inner_->SaveCheckpoint(job_id, column, checkpoint, migrated, conflicts, failed,
                                  scanned);
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
  std::function<void()> before_cas_;
};

}  // namespace udmg::testing
