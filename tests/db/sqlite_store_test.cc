// What only the SQLite backend has: file paths, connection settings, and writers that wait for
// the lock instead of failing.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "db/demo_table.h"
#include "tests/db/store_test_support.h"
#include "tests/support/temp_dir.h"

namespace udmg::db::testing {
namespace {

using ::udmg::testing::TempDir;

TEST(SqliteStoreTest, MissingDirectoryFailsWithoutCreatingIt) {
  TempDir dir;
  std::filesystem::path missing = dir.path() / "no" / "such";
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:" + (missing / "u.db").string());
  EXPECT_STATUS(store.status(), kDatabase, "does not exist");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "no"));
}

TEST(SqliteStoreTest, DirectoryOrForeignFileIsRefused) {
  TempDir dir;
  EXPECT_STATUS(OpenStore("sqlite:" + dir.path().string()).status(), kDatabase, "is a directory");
  std::filesystem::path foreign = dir.path() / "notes.txt";
  std::ofstream(foreign) << std::string(4096, 'x');
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:" + foreign.string());
  EXPECT_STATUS(store.status(), kDatabase, "file is not a database");
  std::ifstream in(foreign);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), std::string(4096, 'x'));
}

TEST(SqliteStoreTest, RelativePathIsDescribedAbsolute) {
  TempDir dir;
  std::filesystem::path old = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:rel.db");
  std::filesystem::current_path(old);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ((*store)->Describe(), "sqlite:" + (dir.path() / "rel.db").string());
}

TEST(SqliteStoreTest, DatabaseIsInWalMode) {
  std::unique_ptr<TestDatabase> database = MakeSqliteDatabase();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore(database->url()));
  ASSERT_OK(store->Migrate());
  EXPECT_EQ(database->QueryText("PRAGMA journal_mode"), "wal");
}

// Another connection holds the write lock; the store's write waits for it (busy timeout), is
// seen waiting, and succeeds once the lock is released instead of failing with "database is
// locked".
TEST(SqliteStoreTest, WriterWaitsForTheLockHolder) {
  std::unique_ptr<TestDatabase> database = MakeSqliteDatabase();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore(database->url()));
  ASSERT_OK(store->Migrate());
  database->Execute("BEGIN IMMEDIATE");
  std::atomic<bool> returned{false};
  Status written;
  std::thread writer([&] {
    written = store->AddEncryptions({{1, 1}}).status();
    returned = true;
  });
  const bool blocked = database->WaitForBlockedConnection();
  EXPECT_TRUE(blocked) << "the writer never waited for the lock";
  EXPECT_FALSE(returned) << "the writer returned while the lock was held";
  database->Execute("COMMIT");
  writer.join();
  EXPECT_TRUE(written.ok()) << written.message();
}

TEST(SqliteStoreTest, ManyDemoRowsInOneTransaction) {
  std::unique_ptr<TestDatabase> database = MakeSqliteDatabase();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore(database->url()));
  ASSERT_OK(store->Migrate());  // the demo table opens a database udmg-server has set up
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DemoTable> demo, OpenDemoTable(database->url()));
  ASSERT_OK(demo->Create());
  std::vector<DemoRow> rows;
  constexpr int64_t kRows = 200'000;
  for (int64_t id = 1; id <= kRows; ++id) {
    rows.push_back(
        {id, "user" + std::to_string(id), "udmg:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="});
  }
  ASSERT_OK(demo->Insert(rows));
  EXPECT_EQ(database->QueryText("SELECT count(*) FROM credentials"), std::to_string(kRows));
}

}  // namespace
}  // namespace udmg::db::testing
