// The pipeline runs of the end-to-end benchmark: one ordinary re-encryption job in this process,
// or N processes sharing one job (`reencrypt --shared`, docs/reencryption.md "Several processes,
// one job"), each with its own connections: the benchmark's "N connections" on PostgreSQL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace udmg::bench {

struct PipelineSettings {
  size_t batch_size = 1000;
  size_t batches_in_flight = 4;
  uint64_t rows_per_range = 50'000;  // shared runs: stale rows per key range
};

// One RunReencryption (a new job) over the dataset at `url`; the rows it migrated.
Result<uint64_t> RunPipeline(const std::string& url, const PipelineSettings& settings);

// Forks `processes` children at once; each runs RunReencryption with `shared` set (its own reader
// and writer connection, its own oneTBB threads) until the shared job is done. Returns the rows
// migrated by all of them; fails if any child fails. Call it before this process opens a
// connection or starts a thread (fork copies neither safely).
Result<uint64_t> RunSharedPipelines(const std::string& url, size_t processes,
                                    const PipelineSettings& settings);

}  // namespace udmg::bench
