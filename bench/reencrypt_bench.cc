// End-to-end re-encryption benchmark driver (on SQLite and on
// PostgreSQL). One measurement per process, so that each run's peak RSS (getrusage ru_maxrss) is
// its own; scripts/bench.sh and scripts/bench-postgres.sh run the matrix. DB is a SQLite file path
// or a postgresql:// URL.
//
// Before the command, `--values uniform|mixed` chooses the dataset's values (bench/e2e_dataset.h;
// default uniform): generate, generate-values, verify and verify-pgcrypto must be given the same.
//
//   udmg-reencrypt-bench generate DB ROWS        a fresh dataset, every row stale (PostgreSQL:
//                                                in an empty database, with the pgcrypto peer's
//                                                table, vacuumed)
//   udmg-reencrypt-bench generate-values DB ROWS the dataset only (no peer, no vacuum: the soak)
//   udmg-reencrypt-bench run MODE DB [BATCH_SIZE [BATCHES_IN_FLIGHT [RANGE_ROWS]]]
//       MODE: pipeline | pipeline-N | naive | naive-tx | rewrite | floor | floor-write |
//       floor-rows | sql | pgcrypto (bench/e2e_baselines.h, bench/e2e_pipeline.h,
//       bench/e2e_postgres.h, bench/e2e_pg_floor.h; pipeline-N: N processes sharing one job,
//       RANGE_ROWS stale rows per key range; floor-write: SQLite only; floor-rows and pgcrypto:
//       PostgreSQL only) prints one JSON line: mode, rows, seconds, cpu_seconds, rows_per_second,
//       peak_rss_kib (the largest of this process and its children)
//   udmg-reencrypt-bench verify DB ROWS VERSION       every row decrypts to its plaintext
//   udmg-reencrypt-bench verify-pgcrypto DB ROWS STRIDE   every STRIDE-th peer row does
// The process is hardened first, as udmg-server is; UDMG_BENCH_HARDENING=off leaves it as it is.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/e2e_baselines.h"
#include "bench/e2e_dataset.h"
#include "bench/e2e_pg_floor.h"
#include "bench/e2e_pipeline.h"
#include "bench/e2e_postgres.h"
#include "cli/heap_reuse.h"
#include "cli/process_hardening.h"

namespace udmg::bench {
namespace {

int Fail(const Error& error) {
  std::fprintf(stderr, "udmg-reencrypt-bench: %s\n", error.message.c_str());
  return static_cast<int>(error.code);
}

int Usage() {
  std::fprintf(stderr,
               "usage: udmg-reencrypt-bench [--values uniform|mixed] COMMAND ...\n"
               "       udmg-reencrypt-bench generate DB ROWS\n"
               "       udmg-reencrypt-bench generate-values DB ROWS\n"
               "       udmg-reencrypt-bench run MODE DB [BATCH_SIZE [BATCHES_IN_FLIGHT "
               "[RANGE_ROWS]]]\n"
               "         MODE: pipeline|pipeline-N|naive|naive-tx|rewrite|floor|floor-write|"
               "floor-rows|sql|pgcrypto\n"
               "       udmg-reencrypt-bench verify DB ROWS VERSION\n"
               "       udmg-reencrypt-bench verify-pgcrypto DB ROWS STRIDE\n"
               "DB: a SQLite file path or a postgresql:// URL\n");
  return static_cast<int>(ErrorCode::kUsage);
}

Status Generate(const std::string& target, uint64_t rows, ValueMix mix) {
  if (!IsPostgresUrl(target)) return GenerateDataset(target, rows, mix);
  UDMG_RETURN_IF_ERROR(GenerateDatasetAt(target, rows, mix));
  UDMG_RETURN_IF_ERROR(AddPgcryptoPeer(target, rows, mix));
  return VacuumDataset(target);
}

Result<uint64_t> RunMode(std::string_view mode, const std::string& target,
                         const PipelineSettings& settings) {
  const std::string url = DatasetUrl(target);
  const bool postgres = IsPostgresUrl(target);
  if (mode == "pipeline") return RunPipeline(url, settings);
  if (mode.starts_with("pipeline-")) {
    size_t processes = std::strtoull(std::string(mode.substr(9)).c_str(), nullptr, 10);
    return RunSharedPipelines(url, processes, settings);
  }
  if (mode == "naive") return RunNaiveRowByRow(url);
  if (mode == "naive-tx") {
    return postgres ? RunPgNaiveOneTransaction(url) : RunNaiveOneTransaction(target);
  }
  if (mode == "rewrite") return RunRewriteNoCrypto(url, settings.batch_size);
  if (mode == "floor") {
    return postgres ? RunPgRawRewriteUnnest(url, settings.batch_size)
                    : RunRawRewriteNoCrypto(target, settings.batch_size);
  }
  if (mode == "floor-write" && !postgres) {
    return RunRawRewriteNoCrypto(target, settings.batch_size, /*change_bytes=*/true);
  }
  if (mode == "floor-rows" && postgres) return RunPgRawRewriteRowByRow(url, settings.batch_size);
  if (mode == "sql") return postgres ? RunPgInDatabaseRewrite(url) : RunInDatabaseRewrite(target);
  if (mode == "pgcrypto" && postgres) return RunPgcryptoPeer(url);
  return Error{ErrorCode::kUsage, "unknown mode '" + std::string(mode) +
                                      "' for this database: use pipeline, pipeline-N, naive, "
                                      "naive-tx, rewrite, floor, sql, floor-write (SQLite), "
                                      "or floor-rows and pgcrypto (PostgreSQL)"};
}

double CpuSeconds(const rusage& usage) {
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

int Run(int argc, char** argv) {
  ValueMix mix = ValueMix::kUniform;
  if (argc >= 3 && std::string_view(argv[1]) == "--values") {
    std::optional<ValueMix> parsed = ParseValueMix(argv[2]);
    if (!parsed) return Usage();
    mix = *parsed;
    argc -= 2;
    argv += 2;
  }
  if (argc < 2) return Usage();
  std::string_view command = argv[1];
  if (command == "generate" && argc == 4) {
    Status status = Generate(argv[2], std::strtoull(argv[3], nullptr, 10), mix);
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "generate-values" && argc == 4) {
    Status status =
        GenerateDatasetAt(DatasetUrl(argv[2]), std::strtoull(argv[3], nullptr, 10), mix);
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "verify" && argc == 5) {
    Status status = VerifyDataset(DatasetUrl(argv[2]),
                                  static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)),
                                  std::strtoull(argv[3], nullptr, 10), mix);
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "verify-pgcrypto" && argc == 5) {
    Status status = VerifyPgcryptoPeer(argv[2], std::strtoull(argv[3], nullptr, 10),
                                       std::strtoull(argv[4], nullptr, 10), mix);
    return status.ok() ? 0 : Fail(status.error());
  }
  if (command == "run" && argc >= 4 && argc <= 7) {
    PipelineSettings settings;
    if (argc > 4) settings.batch_size = std::strtoull(argv[4], nullptr, 10);
    if (argc > 5) settings.batches_in_flight = std::strtoull(argv[5], nullptr, 10);
    if (argc > 6) settings.rows_per_range = std::strtoull(argv[6], nullptr, 10);
    const size_t batch_size = settings.batch_size;
    const size_t in_flight = settings.batches_in_flight;
    auto start = std::chrono::steady_clock::now();
    Result<uint64_t> rows = RunMode(argv[2], argv[3], settings);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!rows.ok()) return Fail(rows.error());
    rusage usage{};
    rusage children{};
    getrusage(RUSAGE_SELF, &usage);
    getrusage(RUSAGE_CHILDREN, &children);  // the processes of pipeline-N
    // CPU time beside wall time: on a shared machine it is the steadier of the two.
    double cpu_seconds = CpuSeconds(usage) + CpuSeconds(children);
    usage.ru_maxrss = std::max(usage.ru_maxrss, children.ru_maxrss);
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

int main(int argc, char** argv) {
  // As udmg-server does (its key buffers on the secure heap), unless UDMG_BENCH_HARDENING=off
  // measures the process without it (docs/process-hygiene.md has the comparison).
  const char* hardening = std::getenv("UDMG_BENCH_HARDENING");
  if (hardening == nullptr || std::string_view(hardening) != "off") {
    const udmg::cli::HardeningReport report = udmg::cli::HardenProcess();
    if (!report.WarningLine().empty()) std::fprintf(stderr, "%s\n", report.WarningLine().c_str());
  }
  udmg::cli::KeepFreedHeapForReuse();  // as udmg-server does
  return udmg::bench::Run(argc, argv);
}
