#include "pipeline/flow_graph.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/flow_graph.h>

#include <algorithm>
#include <exception>
#include <map>
#include <utility>

#include "base/mutex.h"
#include "engine/value_cipher.h"
#include "pipeline/flow_batch.h"
#include "pipeline/value_failure.h"
#include "pipeline/nonce_budget.h"

namespace udmg::pipeline {
namespace {

using SteadyTime = std::chrono::steady_clock;

// Why the pass stops producing batches, set by whichever stage notices first. A stage error
// wins over any other reason; the end of the scan is not a reason (the pass simply ends).
class StopControl {
 public:
  bool halted() const { return halted_.load(std::memory_order_acquire); }
  void EndOfScan() { halted_.store(true, std::memory_order_release); }
  void Stop(ReencryptOutcome reason, std::optional<Error> error = std::nullopt) {
    base::MutexLock lock(mutex_);
    if (!reason_ || (error && reason_ != ReencryptOutcome::kError)) {
      reason_ = reason;
      error_ = std::move(error);
    }
    halted_.store(true, std::memory_order_release);
  }
  void Fail(Error error) { Stop(ReencryptOutcome::kError, std::move(error)); }
  void CopyTo(RunBudget& budget) const {
    base::MutexLock lock(mutex_);
    if (reason_ && (!budget.stop_reason || *reason_ == ReencryptOutcome::kError)) {
      budget.stop_reason = reason_;
      budget.error = error_;
    }
  }

 private:
  std::atomic<bool> halted_{false};
  mutable base::Mutex mutex_;
  std::optional<ReencryptOutcome> reason_ GUARDED_BY(mutex_);
  std::optional<Error> error_ GUARDED_BY(mutex_);
};

Error InternalError(std::string_view stage, const std::exception* e) {
  return Error{ErrorCode::kInternal, "re-encryption " + std::string(stage) +
                                         " stage failed unexpectedly" +
                                         (e ? std::string(": ") + e->what() : std::string()) +
                                         ": run the same command again; report it if it repeats"};
}

class ColumnPassRunner {
 public:
  ColumnPassRunner(const ReencryptOptions& options, const ColumnPass& pass,
                   std::shared_ptr<const Keyring> keyring, db::Store& reader, db::Store& writer,
                   RecordedFailures& recorded_failures, RunBudget& budget)
      : options_(options),
        pass_(pass),
        keyring_(std::move(keyring)),
        reader_(reader),
        writer_(writer),
        recorded_failures_(recorded_failures),
        budget_(budget),
        after_(pass.start_after),
        checkpoint_(pass.checkpoint),
        ciphers_([this] { return std::make_unique<ValueCipher>(keyring_); }) {}

  ColumnPassResult Run() {
    namespace flow = tbb::flow;
    flow::graph graph;
    uint64_t next_ticket = 0;
    // Tickets carry no data: the fetch happens behind the limiter, so at most
    // batches_in_flight batches of rows exist at once (an input_node keeps one item of its own).
    flow::input_node<uint64_t> tickets(graph, [&](tbb::flow_control& control) -> uint64_t {
      if (stop_.halted()) control.stop();
      return next_ticket++;
    });
    flow::limiter_node<uint64_t> limiter(graph, std::max<size_t>(1, options_.batches_in_flight));
    // Fetch and commit form the serial chain that bounds the pass (per row they cost more
    // instructions than the crypto: docs/performance.md), so a free thread takes their tasks
    // before another crypto batch; the crypto fills the remaining time on the other thread.
    const flow::node_priority_t kSerialChain = 1;
    flow::function_node<uint64_t, BatchPtr> fetch(
        graph, flow::serial,
        [this](uint64_t) { return Fetch(); },
        kSerialChain);
    size_t concurrency = options_.crypto_concurrency == 0 ? size_t{flow::unlimited}
                                                          : options_.crypto_concurrency;
    flow::function_node<BatchPtr, BatchPtr> crypto(graph, concurrency, [this](BatchPtr batch) {
      Crypto(*batch);
      return batch;
    });
    flow::sequencer_node<BatchPtr> in_order(
        graph, [](const BatchPtr& batch) -> size_t { return batch->sequence; });
    flow::function_node<BatchPtr, flow::continue_msg> commit(
        graph, flow::serial,
        [this](const BatchPtr& batch) {
          Commit(*batch);
          in_flight_.fetch_sub(1, std::memory_order_acq_rel);
          if (options_.batches_in_flight_now) options_.batches_in_flight_now->fetch_sub(1);
          return flow::continue_msg();
        },
        kSerialChain);
    flow::make_edge(tickets, limiter);
    flow::make_edge(limiter, fetch);
    flow::make_edge(fetch, crypto);
    flow::make_edge(crypto, in_order);
    flow::make_edge(in_order, commit);
    flow::make_edge(commit, limiter.decrementer());
    tickets.activate();
    try {
      graph.wait_for_all();
    } catch (const std::exception& e) {  // bodies catch their own; this is the safety net
      stop_.Fail(InternalError("flow graph", &e));
    }

    stop_.CopyTo(budget_);
    budget_.peak_in_flight = std::max(budget_.peak_in_flight, peak_in_flight_);
    return result_;
  }

 private:
  // Fetch stage (serial). Every ticket becomes exactly one batch, empty once the pass halts, so
  // the sequence numbers have no gap and the sequencer never waits for a batch that will not come.
  BatchPtr Fetch() {
    auto batch = std::make_shared<Batch>();
    batch->sequence = next_sequence_++;
    size_t in_flight = in_flight_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (options_.batches_in_flight_now) options_.batches_in_flight_now->fetch_add(1);
    peak_in_flight_ = std::max(peak_in_flight_, in_flight);
    try {
      FetchRows(*batch);
    } catch (const std::exception& e) {
      batch->error = InternalError("fetch", &e);
    } catch (...) {
      batch->error = InternalError("fetch", nullptr);
    }
    if (batch->error) stop_.Fail(*batch->error);
    return batch;
  }

  // The next page of stale rows after the previous page's last key.
  void FetchRows(Batch& batch) {
    if (stop_.halted() || StopRequested()) return;
    size_t want = options_.batch_size;
    if (options_.hooks.before_fetch) {
      // A long wait in the hook (a tiny rate, a pause) still ends at the run-time budget.
      want = options_.hooks.before_fetch(options_.batch_size,
                                         [this] { return StopRequested() || OutOfTime(); });
    }
    if (want == 0) {
      Stop(StopCause::kStopRequested);
      return;
    }
    // After the throttle (it may have waited a long time); the clock is read once per batch.
    if (StopRequested() || OutOfTime()) return;
    if (options_.max_rows != 0) {
      want = std::min<uint64_t>(want, options_.max_rows - budget_.rows_fetched);
    }
    want = WithinByteBound(want);
    auto fetch_started = SteadyTime::now();
    auto rows = reader_.FetchStale(pass_.column, pass_.filter, after_, want);
    batch.fetch_time = SteadyTime::now() - fetch_started;
    if (!rows.ok()) {
      batch.error = rows.error();
      return;
    }
    if (pass_.end_at) {
      // A leased range ends at its upper key: the rest of the page belongs to later ranges.
      auto beyond = std::find_if(rows->begin(), rows->end(), [this](const db::StoredValue& row) {
        return *pass_.end_at < row.key;
      });
      if (beyond != rows->end()) {
        rows->erase(beyond, rows->end());
        want = rows->size() + 1;  // marks the end of the scan below
      }
    }
    const bool cut = CutAtByteBound(*rows);  // the rows after the cut come in the next batch
    budget_.rows_fetched += rows->size();
    if (!cut && rows->size() < want) {
      batch.end_of_scan = true;
      stop_.EndOfScan();
    }
    if (!rows->empty()) {
      after_ = rows->back().key;
      batch.last_key = after_;
    }
    batch.rows = std::move(*rows);
  }

  // The byte bound of a batch (options_.batch_bytes) as a row count, from the mean size of the
  // values fetched so far, so that the read itself stays near the bound.
  size_t WithinByteBound(size_t want) const {
    if (options_.batch_bytes == 0 || values_seen_ == 0) return want;
    uint64_t mean = std::max<uint64_t>(1, bytes_seen_ / values_seen_);
    return std::clamp<size_t>(options_.batch_bytes / mean, 1, want);
  }

  // Drops the rows past the byte bound (always keeping the first); true when it dropped some.
  bool CutAtByteBound(std::vector<db::StoredValue>& rows) {
    size_t bytes = 0;
    size_t keep = rows.size();
    for (size_t i = 0; i < rows.size(); ++i) {
      size_t size = rows[i].value ? rows[i].value->size() : 0;
      bytes_seen_ += size;
      ++values_seen_;
      if (options_.batch_bytes != 0 && i > 0 && keep == rows.size() &&
          bytes + size > options_.batch_bytes) {
        keep = i;
      }
      bytes += size;
    }
    if (keep == rows.size()) return false;
    rows.erase(rows.begin() + static_cast<ptrdiff_t>(keep), rows.end());
    return true;
  }

  // Checked by the fetch stage only (it owns budget_.rows_fetched and stop_cause during the pass).
  bool StopRequested() {
    if (options_.stop && options_.stop->load(std::memory_order_acquire)) {
      return Stop(StopCause::kStopRequested);
    }
    if (options_.max_rows != 0 && budget_.rows_fetched >= options_.max_rows) {
      return Stop(StopCause::kMaxRows);
    }
    return false;
  }

  bool OutOfTime() {
    if (!budget_.deadline || budget_.clock() < *budget_.deadline) return false;
    return Stop(StopCause::kRunTime);
  }

  bool Stop(StopCause cause) {
    if (budget_.stop_cause == StopCause::kNone) budget_.stop_cause = cause;
    stop_.Stop(ReencryptOutcome::kStopped);
    return true;
  }

  // Crypto stage (parallel): one ValueCipher per thread, reused across batches.
  void Crypto(Batch& batch) {
    if (batch.error || batch.rows.empty()) return;
    try {
      auto started = SteadyTime::now();
      Status status = TransformBatch(*ciphers_.local(), pass_.column, pass_.filter, batch);
      batch.crypto_time = SteadyTime::now() - started;
      if (!status.ok()) batch.error = status.error();
    } catch (const std::exception& e) {
      batch.error = InternalError("crypto", &e);
    } catch (...) {
      batch.error = InternalError("crypto", nullptr);
    }
    if (batch.error) stop_.Fail(*batch.error);
  }

  // Commit stage (serial, batches in fetch order): once a batch fails, no later batch commits,
  // so the saved checkpoint never passes a batch that was not written.
  void Commit(const Batch& batch) {
    if (commit_blocked_) return;
    if (batch.error) {
      commit_blocked_ = true;
      stop_.Fail(*batch.error);
      return;
    }
    if (batch.writes.empty() && batch.failures.empty() && !batch.end_of_scan) return;
    Status status = Status::Ok();
    try {
      status = CommitBatch(batch);
    } catch (const std::exception& e) {
      status = InternalError("commit", &e);
    } catch (...) {
      status = InternalError("commit", nullptr);
    }
    if (!status.ok()) {
      commit_blocked_ = true;
      stop_.Fail(status.error());
      return;
    }
    if (options_.max_failures && budget_.failures > *options_.max_failures) {
      stop_.Stop(ReencryptOutcome::kMaxFailures);
    }
  }

  // The batch's compare-and-swaps in one transaction (rows whose write was refused or altered
  // before are left out). When the database refuses the batch (kDatabase), row by row: a row it
  // refuses (a trigger raising, a constraint) is named, goes to `refused` and is left as it was,
  // the others are written; a failure that is not one row's stays the batch's error. A row the
  // database changed after it was written (a trigger) is named and goes to `refused` as well.
  Result<std::vector<db::CasOutcome>> WriteBatch(const std::vector<db::CasWrite>& all,
                                                 std::vector<RowFailure>& refused) {
    std::vector<db::CasWrite> kept;
    const std::vector<db::CasWrite>* writes = &all;
    if (!recorded_failures_.refused_writes.empty()) {
      for (const db::CasWrite& write : all) {
        if (!recorded_failures_.refused_writes.contains(write.key)) kept.push_back(write);
      }
      writes = &kept;
    }
    UDMG_ASSIGN_OR_RETURN(std::vector<db::CasOutcome> outcomes, WriteOrRefuse(*writes, refused));
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i] != db::CasOutcome::kAltered) continue;
      const db::CasWrite& write = (*writes)[i];
      refused.push_back(
          RowFailure{write.key, EnvelopeVersionOrZero(write.expected), kWriteAltered});
      if (options_.warn) {
        options_.warn("the database changed the value written to " + pass_.column.Name() + " row " +
                      db::RowKeyText(write.key) + " (a trigger?); recorded as a failure (" +
                      std::string(kWriteAltered) +
                      "): the value written is lost, restore the row from a backup",
                      {});
      }
    }
    return outcomes;
  }

  // WriteBatch's write: in one transaction, row by row when the database refuses the batch.
  Result<std::vector<db::CasOutcome>> WriteOrRefuse(const std::vector<db::CasWrite>& writes,
                                                    std::vector<RowFailure>& refused) {
    Result<std::vector<db::CasOutcome>> applied =
        writer_.CompareAndSwapChecked(pass_.column, writes);
    if (applied.ok() || applied.error().code != ErrorCode::kDatabase) return applied;
    std::vector<db::CasOutcome> one_by_one;
    std::vector<std::string> warnings;  // said once the refusals are known to be rows'
    for (const db::CasWrite& write : writes) {
      Result<db::RowWriteResult> row = writer_.CompareAndSwapOne(pass_.column, write);
      if (!row.ok()) return applied.error();  // not one row's: the batch's own error stands
      one_by_one.push_back(!row->applied  ? db::CasOutcome::kNotApplied
                           : row->altered ? db::CasOutcome::kAltered
                                          : db::CasOutcome::kApplied);
      if (!row->refused) continue;
      refused.push_back(RowFailure{write.key, EnvelopeVersionOrZero(write.expected), kWriteRefused});
      warnings.push_back("the database refused to write " + pass_.column.Name() + " row " +
                         db::RowKeyText(write.key) + " (" + *row->refused +
                         "); recorded as a failure (" + std::string(kWriteRefused) +
                         "), the value is left as it was");
    }
    // Every row refused: the database refuses writes, not a row (a trigger that raises on every
    // update): the batch's error, as before.
    if (writes.size() > 1 && refused.size() == writes.size()) {
      refused.clear();
      return applied.error();
    }
    if (options_.warn) {
      for (const std::string& line : warnings) options_.warn(line, {});
    }
    return one_by_one;
  }

  Status CommitBatch(const Batch& batch) {
    std::vector<RowFailure> refused;
    uint64_t migrated = 0;
    uint64_t conflicts = 0;
    uint64_t failed = 0;
    SteadyTime::duration write_time{};
    if (!batch.writes.empty()) {
      UDMG_RETURN_IF_ERROR(CheckStillRegistered());
      // Counted before the ciphertexts are written, so the nonce count never falls behind.
      std::map<uint32_t, uint64_t> made{{pass_.filter.target_version, batch.writes.size()}};
      UDMG_RETURN_IF_ERROR(RecordEncryptions(writer_, made, options_.warn));
      auto started = SteadyTime::now();
      UDMG_ASSIGN_OR_RETURN(std::vector<db::CasOutcome> applied, WriteBatch(batch.writes, refused));
      write_time = SteadyTime::now() - started;
      migrated = std::count(applied.begin(), applied.end(), db::CasOutcome::kApplied);
      conflicts = applied.size() - migrated - refused.size();
    }
    const std::vector<RowFailure>& refused_rows = refused;
    for (const std::vector<RowFailure>* failures : {&batch.failures, &refused_rows}) {
      for (const RowFailure& failure : *failures) {
        if (recorded_failures_.keys.contains(failure.key)) continue;  // by an earlier pass
        UDMG_RETURN_IF_ERROR(writer_.RecordFailure(db::FailureRecord{
            pass_.job_id, pass_.column, failure.key, failure.version,
            std::string(failure.error_class), UnixNow()}));
        recorded_failures_.keys.insert(failure.key);
        if (IsWriteFailure(failure.error_class)) {
          recorded_failures_.refused_writes.insert(failure.key);
        }
        if (failure.error_class == kWriteAltered) {
          recorded_failures_.altered_writes.insert(failure.key);
        }
        ++failed;
      }
    }
    if (pass_.advance_checkpoint && batch.last_key) checkpoint_ = batch.last_key;
    if (pass_.save_range) {
      // A leased range: the counts go to the column, the checkpoint (and the lease) to the range.
      UDMG_RETURN_IF_ERROR(writer_.SaveCheckpoint(pass_.job_id, pass_.column, std::nullopt,
                                                  migrated, conflicts, failed, false));
      UDMG_RETURN_IF_ERROR(pass_.save_range(checkpoint_, batch.end_of_scan));
    } else {
      bool scanned = pass_.advance_checkpoint ? batch.end_of_scan : true;
      UDMG_RETURN_IF_ERROR(writer_.SaveCheckpoint(pass_.job_id, pass_.column, checkpoint_,
                                                  migrated, conflicts, failed, scanned));
    }
    result_.migrated += migrated;
    result_.conflicts += conflicts;
    result_.failed += failed;
    result_.scanned = result_.scanned || batch.end_of_scan;
    ++result_.batches;
    budget_.migrated += migrated;
    budget_.conflicts += conflicts;
    budget_.failures += failed;
    ++budget_.batches;
    size_t rows = batch.writes.size() + batch.failures.size();
    if (options_.hooks.after_commit) {
      options_.hooks.after_commit(
          BatchCommitted{batch.sequence, rows, static_cast<size_t>(migrated), write_time,
                         batch.fetch_time, batch.crypto_time});
    }
    if (options_.hooks.on_progress) options_.hooks.on_progress(Snapshot());
    return Status::Ok();
  }

  // A job never writes a column that is not registered at the time it writes: `columns remove`
  // refuses while a job is running, and this catches a removal that raced with the job's start.
  Status CheckStillRegistered() {
    Result<db::ColumnRef> registered = writer_.FindColumn(pass_.column.table, pass_.column.column);
    if (registered.ok() || registered.error().code != ErrorCode::kNotFound) {
      return registered.status();
    }
    return Status(ErrorCode::kNotFound,
                  "column " + pass_.column.Name() +
                      " was unregistered while the job ran; nothing more is written to it: run "
                      "the same command again to finish the other columns");
  }

  ProgressSnapshot Snapshot() const {
    ProgressSnapshot snapshot;
    snapshot.job_id = pass_.job_id;
    snapshot.pass = pass_.pass;
    snapshot.total = budget_.total;
    snapshot.migrated = budget_.migrated;
    snapshot.conflicts = budget_.conflicts;
    snapshot.failed = budget_.failures;
    snapshot.done = snapshot.migrated + snapshot.conflicts + snapshot.failed;
    snapshot.batches = budget_.batches;
    snapshot.column = pass_.column.Name();
    snapshot.elapsed = SteadyTime::now() - budget_.started;
    return snapshot;
  }

  static int64_t UnixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  const ReencryptOptions& options_;
  const ColumnPass& pass_;
  std::shared_ptr<const Keyring> keyring_;
  db::Store& reader_;  // fetch stage only
  db::Store& writer_;  // commit stage only
  RecordedFailures& recorded_failures_;  // commit stage only
  RunBudget& budget_;  // rows_fetched: fetch stage; counts: commit stage
  StopControl stop_;
  std::atomic<size_t> in_flight_{0};
  // Fetch stage only.
  uint64_t next_sequence_ = 0;
  std::optional<db::RowKey> after_;
  size_t peak_in_flight_ = 0;
  uint64_t bytes_seen_ = 0;  // stored value text fetched, for WithinByteBound's mean
  uint64_t values_seen_ = 0;
  // Commit stage only.
  std::optional<db::RowKey> checkpoint_;
  bool commit_blocked_ = false;
  ColumnPassResult result_;
  tbb::enumerable_thread_specific<std::unique_ptr<ValueCipher>> ciphers_;
};

}  // namespace

ColumnPassResult RunColumnPass(const ReencryptOptions& options, const ColumnPass& pass,
                               const std::shared_ptr<const Keyring>& keyring, db::Store& reader,
                               db::Store& writer, RecordedFailures& recorded_failures,
                               RunBudget& budget) {
  ColumnPassRunner runner(options, pass, keyring, reader, writer, recorded_failures, budget);
  return runner.Run();
}

}  // namespace udmg::pipeline
