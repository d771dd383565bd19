#include "pipeline/sweep.h"

#include <algorithm>
#include <map>
#include <utility>

#include "engine/envelope.h"
#include "engine/value_cipher.h"
#include "pipeline/nonce_budget.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {

std::string_view SweepStopName(SweepStop stop) {
  switch (stop) {
    case SweepStop::kScannedAll: return "completed";
    case SweepStop::kMaxRows: return "max-rows";
    case SweepStop::kMaxDuration: return "max-duration";
  }
  return "completed";
}

namespace {

class SweepRun {
 public:
  SweepRun(SecretsClient& client, const SweepOptions& options)
      : client_(client),
        options_(options),
        clock_(options.clock ? options.clock : [] { return std::chrono::steady_clock::now(); }),
        start_(clock_()) {}

  Result<SweepReport> Run() {
    UDMG_RETURN_IF_ERROR(SyncKeyring());
    UDMG_ASSIGN_OR_RETURN(auto columns, client_.store().ListColumns());
    for (const db::ColumnRef& column : columns) {
      SweepColumnReport& column_report = report_.columns.emplace_back();
      column_report.column = column;
      if (stopped_) continue;  // still counted below, so `remaining` covers every column
      UDMG_RETURN_IF_ERROR(SweepColumn(column, column_report));
    }
    report_.target_version = keyring_->active_version();
    for (SweepColumnReport& column_report : report_.columns) {
      db::StaleFilter filter{report_.target_version, options_.include_plaintext};
      UDMG_ASSIGN_OR_RETURN(column_report.remaining,
                            client_.store().CountStale(column_report.column, filter));
      report_.migrated += column_report.migrated;
      report_.conflicts += column_report.conflicts;
      report_.failed += column_report.failed;
      report_.remaining += column_report.remaining;
    }
    return std::move(report_);
  }

 private:
  // Rows the next batch may take; 0 (with report_.stop set) when a budget is spent.
  size_t NextBatchLimit() {
    if (options_.max_duration && clock_() - start_ >= *options_.max_duration) {
      return Stop(SweepStop::kMaxDuration);
    }
    size_t limit = options_.batch_size;
    if (options_.max_rows) {
      if (examined_ >= *options_.max_rows) return Stop(SweepStop::kMaxRows);
      limit = static_cast<size_t>(std::min<uint64_t>(limit, *options_.max_rows - examined_));
    }
    return limit;
  }

  size_t Stop(SweepStop reason) {
    stopped_ = true;
    report_.stop = reason;
    return 0;
  }

  // Picks up a keyring another process changed (and fails if this K0 is no longer current).
  Status SyncKeyring() {
    UDMG_RETURN_IF_ERROR(client_.RefreshKeyring());
    if (keyring_ != client_.shared_keyring()) {
      keyring_ = client_.shared_keyring();
      cipher_ = std::make_unique<ValueCipher>(keyring_);
    }
    return Status::Ok();
  }

  Status SweepColumn(const db::ColumnRef& column, SweepColumnReport& column_report) {
    std::optional<db::RowKey> after;
    while (true) {
      size_t limit = NextBatchLimit();
      if (limit == 0) return Status::Ok();
      UDMG_RETURN_IF_ERROR(SyncKeyring());
      db::StaleFilter filter{keyring_->active_version(), options_.include_plaintext};
      UDMG_ASSIGN_OR_RETURN(auto rows, client_.store().FetchStale(column, filter, after, limit));
      if (rows.empty()) return Status::Ok();
      after = rows.back().key;
      examined_ += rows.size();
      UDMG_RETURN_IF_ERROR(MigrateBatch(column, rows, column_report));
      if (rows.size() < limit) return Status::Ok();
    }
  }

  // The plaintext of a stale value, or nullopt when it failed (recorded) or turned out current.
  std::optional<SecretBytes> OpenStale(const db::ColumnRef& column, const db::StoredValue& row,
                                  SweepColumnReport& column_report, Status& fatal) {
    const std::string& value = *row.value;
    if (!LooksEncrypted(value)) {
      auto bytes = AsBytes(value);
      return SecretBytes(bytes.begin(), bytes.end());
    }
    auto plaintext = cipher_->Decrypt(value);
    if (!plaintext.ok() && plaintext.error().code == ErrorCode::kNotFound) {
      // A version newer than this keyring: another process rotated since the batch started.
      fatal = SyncKeyring();
      if (!fatal.ok()) return std::nullopt;
      plaintext = cipher_->Decrypt(value);
    }
    uint32_t version = EnvelopeVersionOrZero(value);
    if (!plaintext.ok()) {
      ++column_report.failed;
      if (report_.failures.size() < options_.max_failure_details) {
        report_.failures.push_back(SweepFailure{
            column, row.key, version, std::string(DecryptErrorClass(plaintext.error().code))});
      }
      return std::nullopt;
    }
    if (version == keyring_->active_version()) return std::nullopt;  // current after a refresh
    return std::move(plaintext).value();
  }

  Status MigrateBatch(const db::ColumnRef& column, const std::vector<db::StoredValue>& rows,
                      SweepColumnReport& column_report) {
    std::vector<db::CasWrite> writes;
    std::map<uint32_t, uint64_t> made;
    for (const db::StoredValue& row : rows) {
      if (!row.value) continue;  // NULL stays NULL
      Status fatal;
      std::optional<SecretBytes> plaintext = OpenStale(column, row, column_report, fatal);
      UDMG_RETURN_IF_ERROR(fatal);
      if (!plaintext) continue;
      UDMG_ASSIGN_OR_RETURN(std::string fresh, cipher_->Encrypt(*plaintext));
      ++made[keyring_->active_version()];
      writes.push_back(db::CasWrite{row.key, *row.value, std::move(fresh)});
    }
    if (writes.empty()) return Status::Ok();
    UDMG_RETURN_IF_ERROR(RecordEncryptions(client_.store(), made, client_.warning_sink()));
    UDMG_ASSIGN_OR_RETURN(auto applied, client_.store().CompareAndSwap(column, writes));
    for (bool swapped : applied) ++(swapped ? column_report.migrated : column_report.conflicts);
    return Status::Ok();
  }

  SecretsClient& client_;
  const SweepOptions& options_;
  SweepClock clock_;
  std::chrono::steady_clock::time_point start_;
  std::shared_ptr<const Keyring> keyring_;
  std::unique_ptr<ValueCipher> cipher_;
  uint64_t examined_ = 0;
  bool stopped_ = false;
  SweepReport report_;
};

}  // namespace

Result<SweepReport> Sweep(SecretsClient& client, const SweepOptions& options) {
  if (options.batch_size == 0) {
    return Error{ErrorCode::kBadInput, "sweep batch size must be at least 1"};
  }
  return SweepRun(client, options).Run();
}

}  // namespace udmg::pipeline
