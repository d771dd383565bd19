// Measures the batched compare-and-swap methods of the PostgreSQL backend on a real server:
// for each method, a fresh table of N rows of envelope-sized values (132 characters, as a 64-byte
// secret encrypts to), every row written back once in batches, timed. Figures: docs/postgres.md.
//
//   udmg-pg-cas-bench [URL] [--rows N] [--batch B] [--rounds R]
//   (URL defaults to UDMG_TEST_POSTGRES_URL; see scripts/postgres.sh)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "db/postgres/postgres_store.h"

namespace udmg::db::postgres {
namespace {

struct Options {
  std::string url;
  size_t rows = 100'000;
  size_t batch = 1000;
  int rounds = 3;
};

bool ParseOptions(int argc, char** argv, Options& options) {
  if (const char* url = std::getenv("UDMG_TEST_POSTGRES_URL")) options.url = url;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (arg == "--rows") {
      options.rows = std::strtoull(next(), nullptr, 10);
    } else if (arg == "--batch") {
      options.batch = std::strtoull(next(), nullptr, 10);
    } else if (arg == "--rounds") {
      options.rounds = std::atoi(next());
    } else {
      options.url = arg;
    }
  }
  return !options.url.empty() && options.rows > 0 && options.batch > 0 && options.rounds > 0;
}

// Fills `table` with ids 1..rows and 132-character "udmg:v1:..." values.
void CreateTable(const std::string& url, const std::string& table, size_t rows) {
  pqxx::connection connection(url);
  pqxx::nontransaction sql(connection);
  sql.exec("SET client_min_messages TO warning");
  sql.exec("DROP TABLE IF EXISTS " + table);
  sql.exec("CREATE TABLE " + table + " (id integer PRIMARY KEY, secret text)");
  sql.exec("INSERT INTO " + table + " SELECT g, 'udmg:v1:' || left(repeat(md5(g::text), 4), 124) "
           "FROM generate_series(1, " + std::to_string(rows) + ") AS g");
  sql.exec("VACUUM ANALYZE " + table);
}

void DropTable(const std::string& url, const std::string& table) {
  pqxx::connection connection(url);
  pqxx::nontransaction(connection).exec("DROP TABLE IF EXISTS " + table);
}

// Seconds to write every row back with `method`, or a negative number after an error.
double WriteBackAll(const Options& options, CasMethod method, const ColumnRef& column) {
  PgStoreOptions store_options;
  store_options.cas_method = method;
  Result<std::unique_ptr<Store>> opened = OpenPostgresStore(options.url, store_options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return -1;
  }
  Store& store = **opened;
  // The store reads a column's schema from its registration, as the tool does after `columns add`.
  Status registered = store.Migrate();
  if (registered.ok()) {
    Result<ColumnRef> found = store.FindColumn(column.table, column.column);
    if (!found.ok()) registered = store.AddColumn(column);
  }
  if (!registered.ok()) {
    std::fprintf(stderr, "%s\n", registered.message().c_str());
    return -1;
  }
  // Read every row first (not timed), as the pipeline's fetch stage would have.
  std::vector<CasWrite> writes;
  std::optional<RowKey> after;
  for (;;) {
    Result<std::vector<StoredValue>> page = store.FetchValues(column, after, 10'000);
    if (!page.ok()) {
      std::fprintf(stderr, "%s\n", page.error().message.c_str());
      return -1;
    }
    if (page->empty()) break;
    for (const StoredValue& value : *page) {
      writes.push_back({value.key, *value.value, "udmg:v2:" + value.value->substr(8)});
    }
    after = page->back().key;
  }
  auto start = std::chrono::steady_clock::now();
  size_t applied = 0;
  for (size_t first = 0; first < writes.size(); first += options.batch) {
    std::span<const CasWrite> batch(writes.data() + first,
                                    std::min(options.batch, writes.size() - first));
    Result<std::vector<bool>> result = store.CompareAndSwap(column, batch);
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.error().message.c_str());
      return -1;
    }
    applied += std::count(result->begin(), result->end(), true);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (applied != options.rows) {
    std::fprintf(stderr, "%s: %zu of %zu rows applied\n", std::string(CasMethodName(method)).c_str(),
                 applied, options.rows);
    return -1;
  }
  return seconds;
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: udmg-pg-cas-bench [URL] [--rows N] [--batch B] [--rounds R]; the URL "
                 "defaults to UDMG_TEST_POSTGRES_URL (scripts/postgres.sh start)\n");
    return 2;
  }
  const std::string table = "cas_bench_" + std::to_string(getpid());
  const ColumnRef column{table, "secret", "id"};
  const CasMethod methods[] = {CasMethod::kUnnest, CasMethod::kValues, CasMethod::kCopy,
                               CasMethod::kRowByRow};
  std::map<CasMethod, std::vector<double>> seconds;
  try {
    // Rounds interleave the methods, so that a slow spell of the machine hits all of them.
    for (int round = 0; round < options.rounds; ++round) {
      for (CasMethod method : methods) {
        CreateTable(options.url, table, options.rows);
        double took = WriteBackAll(options, method, column);
        if (took < 0) {
          DropTable(options.url, table);
          return 1;
        }
        seconds[method].push_back(took);
      }
    }
    DropTable(options.url, table);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", e.what());
    return 1;
  }
  std::printf("%zu rows, batches of %zu, %d rounds (median)\n", options.rows, options.batch,
              options.rounds);
  std::printf("| method | seconds | rows/s |\n| --- | --- | --- |\n");
  for (CasMethod method : methods) {
    std::vector<double>& runs = seconds[method];
    std::sort(runs.begin(), runs.end());
    double median = runs[runs.size() / 2];
    std::printf("| %s | %.2f | %.0f |\n", std::string(CasMethodName(method)).c_str(), median,
                options.rows / median);
  }
  return 0;
}

}  // namespace
}  // namespace udmg::db::postgres

int main(int argc, char** argv) { return udmg::db::postgres::Main(argc, argv); }
