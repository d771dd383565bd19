// The gradual sweep (DESIGN §3): migrates stale values of every registered column to the active
// master version, in bounded runs for cron. Per column: keyset pagination over stale rows
// (FetchStale) → decrypt → encrypt under the active version → compare-and-swap per batch, so a
// concurrent writer is never overwritten. A value that does not decrypt is reported and left
// byte-identical. Single-threaded; a later issue moves the internals onto the oneTBB pipeline
// behind the same options-in, report-out interface.
//
// Thread-safety: runs on the calling thread with the client's store; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/store.h"
#include "pipeline/secrets.h"

namespace udmg::pipeline {

using SweepClock = std::function<std::chrono::steady_clock::time_point()>;

struct SweepOptions {
  // Stop once this many stale rows have been examined (migrated + conflicts + failed).
  std::optional<uint64_t> max_rows;
  // Start no new batch after this much time; the batch in progress finishes.
  std::optional<std::chrono::nanoseconds> max_duration;
  size_t batch_size = 1000;
  // Also encrypt legacy plaintext values (no "udmg:" prefix); left alone otherwise.
  bool include_plaintext = false;
  // How many failures are kept with their key in the report (all are counted).
  size_t max_failure_details = 100;
  // Time source for max_duration; steady_clock when empty (tests inject a fake one).
  SweepClock clock;
};

struct SweepFailure {
  db::ColumnRef column;
  db::RowKey key;
  uint32_t version = 0;     // 0 when the envelope is malformed
  std::string error_class;  // "malformed", "unknown_version", "decryption_failed"
};

struct SweepColumnReport {
  db::ColumnRef column;
  uint64_t migrated = 0;
  uint64_t conflicts = 0;
  uint64_t failed = 0;
  uint64_t remaining = 0;  // stale values left at the end (failed ones included)
};

enum class SweepStop { kScannedAll, kMaxRows, kMaxDuration };
std::string_view SweepStopName(SweepStop stop);  // "completed", "max-rows", "max-duration"

struct SweepReport {
  uint32_t target_version = 0;  // the active version at the end of the run
  uint64_t migrated = 0;        // written back under the active version
  uint64_t conflicts = 0;       // changed by someone else meanwhile: left to them
  uint64_t failed = 0;          // did not decrypt: reported, not touched
  uint64_t remaining = 0;       // sum of the columns' remaining
  SweepStop stop = SweepStop::kScannedAll;
  std::vector<SweepColumnReport> columns;
  std::vector<SweepFailure> failures;  // the first max_failure_details failures
};

// Invalid options (batch_size 0) → kBadInput. Database errors and a K0 that stopped being
// current (WrongRootKeyError, checked before every batch) end the run with that error; batches
// already committed stay committed (each one is complete and correct on its own).
Result<SweepReport> Sweep(SecretsClient& client, const SweepOptions& options);

}  // namespace udmg::pipeline
