#include "tests/db/store_test_support.h"

#include "tests/db/postgres_test_database.h"
#include "tests/support/temp_dir.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace udmg::db::testing {

void TestDatabase::Execute(const std::string& sql) {
  std::string error = TryExecute(sql);
  EXPECT_EQ(error, "") << "test SQL failed: " << sql;
}

namespace {

constexpr auto kBlockedDeadline = std::chrono::minutes(1);

// SQLite's busy handler sleeps through its connection's VFS between attempts at a lock: the
// default VFS is replaced, for this process, by a copy whose xSleep counts the calls.
std::atomic<uint64_t> busy_sleeps{0};
sqlite3_vfs* real_vfs = nullptr;

int CountingSleep(sqlite3_vfs*, int microseconds) {
  busy_sleeps.fetch_add(1);
  return real_vfs->xSleep(real_vfs, microseconds);
}

void InstallSleepCountingVfs() {
  static sqlite3_vfs counting = [] {
    real_vfs = sqlite3_vfs_find(nullptr);
    sqlite3_vfs copy = *real_vfs;
    copy.zName = "udmg-test-counting-sleeps";
    copy.xSleep = CountingSleep;
    copy.pNext = nullptr;
    return copy;
  }();
  static const int registered = sqlite3_vfs_register(&counting, /*makeDflt=*/1);
  EXPECT_EQ(registered, SQLITE_OK);
}

// A SQLite database file in a temp dir, with the test's own raw connection.
class SqliteTestDatabase final : public TestDatabase {
 public:
  SqliteTestDatabase() : file_(dir_.path() / "test.db") {
    InstallSleepCountingVfs();  // before any connection opens, so every one uses it
    if (sqlite3_open(file_.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
    sqlite3_busy_timeout(db_, 30'000);
  }
  ~SqliteTestDatabase() override { sqlite3_close_v2(db_); }

  std::string url() const override { return "sqlite:" + file_.string(); }

  std::string TryExecute(const std::string& sql) override {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return "";
    std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return message;
  }

  std::string QueryText(const std::string& sql) override {
    std::vector<std::vector<std::string>> rows = Query(sql);
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
  }

  bool WaitForBlockedConnection() override {
    const uint64_t before = busy_sleeps.load();
    const auto deadline = std::chrono::steady_clock::now() + kBlockedDeadline;
    while (busy_sleeps.load() == before) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

  std::string Dump() override {
    std::string dump;
    for (const auto& table :
         Query("SELECT name, type, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")) {
      dump += table[2] + ";\n";
      if (table[1] != "table") continue;
      std::vector<std::string> lines;
      for (const auto& row : Query("SELECT * FROM \"" + table[0] + "\"")) {
        std::string line = table[0] + ":";
        for (const std::string& value : row) line += " " + value;
        lines.push_back(line);
      }
      std::sort(lines.begin(), lines.end());
      for (const std::string& line : lines) dump += line + "\n";
    }
    return dump;
  }

 private:
  // Every value typed, so that 42 and '42' differ.
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "test query failed: " << sqlite3_errmsg(db_) << ": " << sql;
      return rows;
    }
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::vector<std::string>& row = rows.emplace_back();
      for (int i = 0; i < sqlite3_column_count(statement); ++i) {
        switch (sqlite3_column_type(statement, i)) {
          case SQLITE_NULL:
            row.push_back("NULL");
            break;
          case SQLITE_INTEGER:
            row.push_back(std::to_string(sqlite3_column_int64(statement, i)));
            break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, i));
            row.emplace_back(text, static_cast<size_t>(sqlite3_column_bytes(statement, i)));
          }
        }
      }
    }
    sqlite3_finalize(statement);
    return rows;
  }

  ::udmg::testing::TempDir dir_;
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<TestDatabase> MakeSqliteDatabase() {
  return std::make_unique<SqliteTestDatabase>();
}

std::vector<StoreBackend> AllBackends() {
  std::vector<StoreBackend> backends = {StoreBackend{"sqlite", MakeSqliteDatabase}};
  // Listed when a server is given, and also when one is required but missing, so that every
  // PostgreSQL case then fails loudly instead of vanishing from the run.
  if (TestPostgresUrl() || PostgresRequired()) {
    backends.push_back(StoreBackend{"postgresql", MakePostgresDatabase});
  }
  return backends;
}

StoreBackend CurrentBackend() {
  // The parameter is matched by its printed name (PrintTo above), not read with GetParam(): a
  // test parameterized over another type must not be taken for a StoreBackend.
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (test != nullptr && test->value_param() != nullptr) {
    for (StoreBackend& backend : AllBackends()) {
      if (backend.name == test->value_param()) return backend;
    }
  }
  return StoreBackend{"sqlite", MakeSqliteDatabase};
}

std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

void StoreTest::SetUp() {
  database_ = GetParam().make_database();
  ASSERT_NE(database_, nullptr) << "no test database for " << GetParam().name;
  store_ = OpenAnother();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK(store_->Migrate());
}

KeyringRecords OpaqueKeyring(uint32_t masters) {
  KeyringRecords records;
  records.roots.push_back(RootKeyRecord{1, "fp1", std::nullopt, std::nullopt, 1000});
  for (uint32_t v = 1; v <= masters; ++v) {
    records.masters.push_back(MasterKeyRecord{
        v, "gAAAAAk3-" + std::to_string(v), 1,
        v == masters ? MasterKeyState::kActive : MasterKeyState::kDecryptOnly, 2000 + v});
  }
  return records;
}

KeyringRecords WithNewActiveMaster(KeyringRecords records, std::string k3) {
  records.masters.back().state = MasterKeyState::kDecryptOnly;
  records.masters.push_back(MasterKeyRecord{records.masters.back().version + 1, std::move(k3), 1,
                                            MasterKeyState::kActive, 0});
  return records;
}

std::unique_ptr<Store> StoreTest::OpenAnother() {
  Result<std::unique_ptr<Store>> store = OpenStore(database_->url());
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

}  // namespace udmg::db::testing
