// A db::Store that forwards every method to a wrapped store: the base of the test wrappers that
// override only what they observe or break (tests/pipeline/hooked_store.h,
// tests/pipeline/fault_store.h). An override calls ForwardingStore::Method to go on.
//
// Thread-safety: that of the wrapped store (NOT thread-safe, like every Store).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/store.h"

namespace udmg::db::testing {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  std::string Describe() const override { return inner_->Describe(); }
  Status Migrate() override { return inner_->Migrate(); }

  Result<std::optional<KeyringRecords>> LoadKeyring() override { return inner_->LoadKeyring(); }
  Result<int64_t> KeyringRevision() override { return inner_->KeyringRevision(); }
  Status UpdateKeyring(const KeyringChange& change) override {
    return inner_->UpdateKeyring(change);
  }
  Result<EncryptionCounts> AddEncryptions(const EncryptionCounts& by_version) override {
    return inner_->AddEncryptions(by_version);
  }
  Result<std::map<uint32_t, uint64_t>> LoadEncryptions() override {
    return inner_->LoadEncryptions();
  }
  Result<KeyPolicy> LoadPolicy() override { return inner_->LoadPolicy(); }
  Status UpdatePolicy(const PolicyChange& change) override { return inner_->UpdatePolicy(change); }

  Result<std::vector<ColumnRef>> ListColumns() override { return inner_->ListColumns(); }
  Status AddColumn(const ColumnRef& column) override { return inner_->AddColumn(column); }
  Status RemoveColumn(std::string_view table, std::string_view column) override {
    return inner_->RemoveColumn(table, column);
  }
  Result<ColumnRef> FindColumn(std::string_view table, std::string_view column) override {
    return inner_->FindColumn(table, column);
  }
  Status CheckColumnStillExists(const ColumnRef& column) override {
    return inner_->CheckColumnStillExists(column);
  }
  Result<uint64_t> CountUnaddressable(const ColumnRef& column,
                                      const StaleFilter* filter) override {
    return inner_->CountUnaddressable(column, filter);
  }
  Result<ValueColumnRoom> MeasureValueColumn(const ColumnRef& column) override {
    return inner_->MeasureValueColumn(column);
  }
  Result<ColumnRef> SetColumnBinding(std::string_view table, std::string_view column,
                                     bool bound) override {
    return inner_->SetColumnBinding(table, column, bound);
  }
  Result<std::optional<std::string>> RowsHiddenFrom(const ColumnRef& column) override {
    return inner_->RowsHiddenFrom(column);
  }
  SessionAccess Access() const override { return inner_->Access(); }

  Result<std::optional<StoredValue>> ReadValue(const ColumnRef& column,
                                               const RowKey& key) override {
    return inner_->ReadValue(column, key);
  }
  Status WriteValue(const ColumnRef& column, const RowKey& key,
                    const std::optional<std::string>& value) override {
    return inner_->WriteValue(column, key, value);
  }
  Result<std::vector<StoredValue>> FetchStale(const ColumnRef& column, const StaleFilter& filter,
                                              const std::optional<RowKey>& after,
                                              size_t limit) override {
    return inner_->FetchStale(column, filter, after, limit);
  }
  Result<std::vector<StoredValue>> FetchValues(const ColumnRef& column,
                                               const std::optional<RowKey>& after,
                                               size_t limit) override {
    return inner_->FetchValues(column, after, limit);
  }
  Result<uint64_t> CountStale(const ColumnRef& column, const StaleFilter& filter) override {
    return inner_->CountStale(column, filter);
  }
  Result<ValueCounts> CountValues(const ColumnRef& column) override {
    return inner_->CountValues(column);
  }
  Result<std::vector<CasOutcome>> CompareAndSwapChecked(
      const ColumnRef& column, std::span<const CasWrite> writes) override {
    return inner_->CompareAndSwapChecked(column, writes);
  }
  Result<RowWriteResult> CompareAndSwapOne(const ColumnRef& column,
                                           const CasWrite& write) override {
    return inner_->CompareAndSwapOne(column, write);
  }

  Result<int64_t> CreateJob(std::string_view kind, uint32_t target_version,
                            const std::vector<ColumnRef>& columns) override {
    return inner_->CreateJob(kind, target_version, columns);
  }
  Result<std::optional<JobRecord>> FindLatestJobNotDone(std::string_view kind) override {
    return inner_->FindLatestJobNotDone(kind);
  }
  Result<std::optional<JobRecord>> FindLatestFinishedJob(std::string_view kind) override {
    return inner_->FindLatestFinishedJob(kind);
  }
  Result<std::optional<JobRecord>> LoadJob(int64_t job_id) override {
    return inner_->LoadJob(job_id);
  }
  Status SaveCheckpoint(int64_t job_id, const ColumnRef& column,
                        const std::optional<RowKey>& checkpoint, uint64_t migrated,
                        uint64_t conflicts, uint64_t failed, bool scanned) override {
    return inner_->SaveCheckpoint(job_id, column, checkpoint, migrated, conflicts, failed,
                                  scanned);
  }
  Status SetJobState(int64_t job_id, JobState state) override {
    return inner_->SetJobState(job_id, state);
  }
  Status RecordFailure(const FailureRecord& failure) override {
    return inner_->RecordFailure(failure);
  }
  Result<std::vector<FailureRecord>> ListFailures(int64_t job_id) override {
    return inner_->ListFailures(job_id);
  }
  Status RecordJobWait(int64_t job_id, const std::optional<JobWait>& wait) override {
    return inner_->RecordJobWait(job_id, wait);
  }
  Result<std::vector<int64_t>> BlockingPids(int64_t backend_pid) override {
    return inner_->BlockingPids(backend_pid);
  }

  Result<SharedJobProbe> ProbeSharedJob(std::string_view kind, uint32_t target_version) override {
    return inner_->ProbeSharedJob(kind, target_version);
  }
  Result<std::vector<RowKey>> SampleRangeBounds(const ColumnRef& column, const StaleFilter& filter,
                                                uint64_t rows_per_range) override {
    return inner_->SampleRangeBounds(column, filter, rows_per_range);
  }
  Result<std::optional<int64_t>> CreateSharedJob(std::string_view kind, uint32_t target_version,
                                                 const std::vector<ColumnRef>& columns,
                                                 const std::vector<std::vector<RowKey>>& bounds,
                                                 std::optional<int64_t> watermark) override {
    return inner_->CreateSharedJob(kind, target_version, columns, bounds, watermark);
  }
  Result<std::optional<JobRange>> ClaimRange(int64_t job_id, std::string_view owner,
                                             int64_t lease_ms) override {
    return inner_->ClaimRange(job_id, owner, lease_ms);
  }
  Status RenewRange(const JobRange& range, std::string_view owner,
                    const std::optional<RowKey>& checkpoint, int64_t lease_ms,
                    bool done) override {
    return inner_->RenewRange(range, owner, checkpoint, lease_ms, done);
  }
  Result<RangeCounts> CountRanges(int64_t job_id) override {
    return inner_->CountRanges(job_id);
  }

  Result<std::string> KeyringId() override { return inner_->KeyringId(); }
  Status RecordBackup(const BackupRecord& backup) override { return inner_->RecordBackup(backup); }
  Result<std::optional<BackupRecord>> LatestBackup() override { return inner_->LatestBackup(); }
  Status RecordNode(const NodeRecord& node) override { return inner_->RecordNode(node); }
  Result<std::vector<NodeRecord>> ListNodes() override { return inner_->ListNodes(); }
  Status UpdateKeyringChecked(const CheckedKeyringChange& change,
                              bool refuse_while_job_runs) override {
    return inner_->UpdateKeyringChecked(change, refuse_while_job_runs);
  }
  Result<std::vector<ReplacedKeyRecord>> ListReplacedKeys() override {
    return inner_->ListReplacedKeys();
  }
  Result<ReplicationState> ReadReplication() override { return inner_->ReadReplication(); }
  Result<std::vector<AuditEntry>> ListAudit() override { return inner_->ListAudit(); }
  Status AppendRefusal(std::string_view event, std::string_view reason) override {
    return inner_->AppendRefusal(event, reason);
  }
  Result<std::optional<int64_t>> OthersCommitMark() override { return inner_->OthersCommitMark(); }

 private:
  std::unique_ptr<Store> inner_;
};

}  // namespace udmg::db::testing
