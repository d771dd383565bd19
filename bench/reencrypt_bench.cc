// End-to-end re-encryption benchmark driver (issue 3 item 9). One measurement per process, so
// that each run's peak RSS (getrusage ru_maxrss) is its own; scripts/bench.sh runs the matrix.
//
//   udmg-reencrypt-bench generate PATH ROWS      a fresh SQLite dataset, every row stale
//   udmg-reencrypt-bench run MODE PATH [BATCH_SIZE [BATCHES_IN_FLIGHT]]
//       MODE: pipeline | naive | naive-tx | rewrite | sql  (see bench/e2e_baselines.h)
//       prints one JSON line: mode, rows, seconds, rows_per_second, peak_rss_kib
//   udmg-reencrypt-bench verify PATH ROWS VERSION   every row decrypts to its plaintext
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/e2e_baselines.h"
#include "bench/e2e_dataset.h"
#include "pipeline/reencrypt.h"

namespace udmg::bench {
namespace {

constexpr size_t kDefaultBatchSize = 1000;
constexpr size_t kDefaultBatchesInFlight = 4;

int Fail(const Error& error) {
  std::fprintf(stderr, "udmg-reencrypt-bench: %s\n", error.message.c_str());
  return static_cast<int>(error.code);
}

int Usage() {
  std::fprintf(stderr,
               "usage: udmg-reencrypt-bench generate PATH ROWS\n"
               "       udmg-reencrypt-bench run pipeline|naive|naive-tx|rewrite|sql PATH "
               "[BATCH_SIZE [BATCHES_IN_FLIGHT]]\n"
               "       udmg-reencrypt-bench verify PATH ROWS VERSION\n");
  return static_cast<int>(ErrorCode::kUsage);
}

Result<uint64_t> RunPipeline(const std::string& path, size_t batch_size, size_t in_flight) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset("sqlite:" + path));
  pipeline::ReencryptOptions options;
  options.database_url = "sqlite:" + path;
  options.keyring = dataset.keyring;
  options.resume = pipeline::ResumeMode::kStartNew;
  options.batch_size = batch_size;
  options.batches_in_flight = in_flight;
  dataset.store.reset();  // the pipeline opens its own connections
  UDMG_ASSIGN_OR_RETURN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  UDMG_RETURN_IF_ERROR(pipeline::ReportStatus(report));
  return report.migrated;
}

Result<uint64_t> RunMode(std::string_view mode, const std::string& path, size_t batch_size,
                         size_t in_flight) {
  if (mode == "pipeline") return RunPipeline(path, batch_size, in_flight);
  if (mode == "naive") return RunNaiveRowByRow("sqlite:" + path);
  if (mode == "naive-tx") return RunNaiveOneTransaction(path);
  if (mode == "rewrite") return RunRewriteNoCrypto("sqlite:" + path, batch_size);
  if (mode == "sql") return RunInDatabaseRewrite(path);
  return Error{ErrorCode::kUsage, "unknown mode '" + std::string(mode) +
                                      "': use pipeline, naive, naive-tx, rewrite or sql"};
}

int Run(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string_view command = argv[1];
  if (command == "generate" && argc == 4) {
    Status status = GenerateDataset(argv[2], std::strtoull(argv[3], nullptr, 10));
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "verify" && argc == 5) {
    Status status = VerifyDataset("sqlite:" + std::string(argv[2]),
                                  static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)),
                                  std::strtoull(argv[3], nullptr, 10));
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "run" && argc >= 4 && argc <= 6) {
    size_t batch_size = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : kDefaultBatchSize;
    size_t in_flight = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : kDefaultBatchesInFlight;
    auto start = std::chrono::steady_clock::now();
    Result<uint64_t> rows = RunMode(argv[2], argv[3], batch_size, in_flight);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!rows.ok()) return Fail(rows.error());
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    // CPU time beside wall time: on a shared machine it is the steadier of the two.
    double cpu_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    std::printf("{\"mode\":\"%s\",\"rows\":%llu,\"seconds\":%.3f,\"cpu_seconds\":%.3f,"
                "\"rows_per_second\":%.0f,\"peak_rss_kib\":%ld,\"batch_size\":%zu,"
                "\"batches_in_flight\":%zu}\n",
                argv[2], static_cast<unsigned long long>(*rows), seconds, cpu_seconds,
                *rows / seconds, usage.ru_maxrss, batch_size, in_flight);
    return 0;
  }
  return Usage();
}

}  // namespace
}  // namespace udmg::bench

int main(int argc, char** argv) { return udmg::bench::Run(argc, argv); }
