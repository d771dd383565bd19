// db/store.cc: row keys, the database URL, and which backend OpenStore picks.
#include <stdlib.h>

#include <optional>

#include "db/store.h"
#include "tests/db/store_test_support.h"
#include "tests/support/temp_dir.h"

namespace udmg::db {
namespace {

TEST(RowKeyTest, CanonicalDecimalsBecomeIntegers) {
  EXPECT_EQ(ParseRowKey("-12"), RowKey(int64_t{-12}));
  EXPECT_EQ(ParseRowKey("0"), RowKey(int64_t{0}));
  EXPECT_EQ(ParseRowKey("42"), RowKey(int64_t{42}));
  EXPECT_EQ(ParseRowKey("9223372036854775807"), RowKey(INT64_MAX));
  EXPECT_EQ(ParseRowKey("-9223372036854775808"), RowKey(INT64_MIN));
}

TEST(RowKeyTest, EverythingElseStaysText) {
  for (const char* text : {"007", "-0", "+5", " 5", "5 ", "", "-", "1e3", "abc", "12a",
                           "9223372036854775808", "-9223372036854775809", "0x10"}) {
    EXPECT_EQ(ParseRowKey(text), RowKey(std::string(text))) << "'" << text << "'";
  }
}

TEST(RowKeyTest, TextRoundTripsThroughParse) {
  EXPECT_EQ(RowKeyText(RowKey(int64_t{-12})), "-12");
  EXPECT_EQ(RowKeyText(RowKey(std::string("007"))), "007");
  for (const char* text : {"-12", "007", "abc", "0"})
    EXPECT_EQ(RowKeyText(ParseRowKey(text)), text);
}

// Sets or clears UDMG_DATABASE_URL for one test and puts the old value back.
class DatabaseUrlEnv {
 public:
  explicit DatabaseUrlEnv(const char* value) {
    if (const char* old = getenv("UDMG_DATABASE_URL")) old_ = old;
    value ? setenv("UDMG_DATABASE_URL", value, 1) : unsetenv("UDMG_DATABASE_URL");
  }
  ~DatabaseUrlEnv() {
    old_ ? setenv("UDMG_DATABASE_URL", old_->c_str(), 1) : unsetenv("UDMG_DATABASE_URL");
  }

 private:
  std::optional<std::string> old_;
};

TEST(ResolveDatabaseUrlTest, FlagThenEnvironmentThenDefault) {
  {
    DatabaseUrlEnv env("sqlite:/from/env.db");
    EXPECT_EQ(ResolveDatabaseUrl(std::string("sqlite:/from/flag.db")), "sqlite:/from/flag.db");
    EXPECT_EQ(ResolveDatabaseUrl(std::nullopt), "sqlite:/from/env.db");
  }
  {
    DatabaseUrlEnv env(nullptr);
    EXPECT_EQ(ResolveDatabaseUrl(std::nullopt), "sqlite:udmg.db");
  }
  {
    DatabaseUrlEnv env("");
    EXPECT_EQ(ResolveDatabaseUrl(std::nullopt), "sqlite:udmg.db");
  }
}

// Both schemes reach the PostgreSQL backend: nothing listens on port 1, so the error is its
// "cannot reach" line (not the unknown-form one), without the password given in the URL.
TEST(OpenStoreTest, BothPostgresqlSchemesReachTheBackend) {
  for (const char* url : {"postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=5",
                          "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=5"}) {
    Status status = OpenStore(url).status();
    EXPECT_STATUS(status, kDatabase, "cannot reach the PostgreSQL server");
    EXPECT_EQ(status.message().find("hunter2"), std::string::npos) << status.message();
  }
}

TEST(OpenStoreTest, UnknownFormsNameTheAcceptedOnesWithoutEchoingTheUrl) {
  for (const char* url : {"mysql://admin:hunter2@db/prod", "udmg.db", "", "SQLITE:x.db"}) {
    Status status = OpenStore(url).status();
    EXPECT_STATUS(status, kBadInput, "sqlite:PATH or postgresql://");
    EXPECT_EQ(status.message().find("hunter2"), std::string::npos);
  }
}

TEST(OpenStoreTest, SqliteNeedsAPath) {
  EXPECT_STATUS(OpenStore("sqlite:").status(), kBadInput, "sqlite:PATH");
}

TEST(OpenStoreTest, SqliteOpensAndDescribesTheAbsolutePath) {
  ::udmg::testing::TempDir dir;
  std::string path = (dir.path() / "a.db").string();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore("sqlite:" + path));
  EXPECT_EQ(store->Describe(), "sqlite:" + path);
  EXPECT_TRUE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace udmg::db
