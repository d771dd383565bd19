// db/database_url.h: which backend a --db URL names, decided without opening anything.
#include <filesystem>

#include "db/database_url.h"
#include "tests/db/store_test_support.h"

namespace udmg::db {
namespace {

TEST(ParseDatabaseUrlTest, SqliteTakesTheRestAsThePath) {
  ASSERT_OK_AND_ASSIGN(DatabaseUrl parsed, ParseDatabaseUrl("sqlite:/var/lib/udmg/keys.db"));
  EXPECT_EQ(parsed.backend, Backend::kSqlite);
  EXPECT_EQ(parsed.target, "/var/lib/udmg/keys.db");
  ASSERT_OK_AND_ASSIGN(parsed, ParseDatabaseUrl("sqlite:sqlite:odd name.db"));
  EXPECT_EQ(parsed.target, "sqlite:odd name.db");
}

TEST(ParseDatabaseUrlTest, BothPostgresqlSchemesKeepTheWholeUrl) {
  for (const char* url : {"postgresql://u:pw@db:5432/keys?sslmode=require", "postgres://db/keys"}) {
    ASSERT_OK_AND_ASSIGN(DatabaseUrl parsed, ParseDatabaseUrl(url));
    EXPECT_EQ(parsed.backend, Backend::kPostgres);
    EXPECT_EQ(parsed.target, url);
  }
}

TEST(ParseDatabaseUrlTest, OtherFormsAreRefusedWithoutEchoingTheUrl) {
  for (const char* url : {"mysql://admin:hunter2@db/prod", "hunter2.db", "", "SQLITE:x.db",
                          "postgresql:/hunter2", " sqlite:x.db", "sqlite:"}) {
    Status status = ParseDatabaseUrl(url).status();
    EXPECT_STATUS(status, kBadInput, "sqlite:PATH");
    EXPECT_EQ(status.message().find("hunter2"), std::string::npos) << status.message();
  }
}

TEST(ParseDatabaseUrlTest, CreatesNoFile) {
  testing::TempDir dir;
  const std::filesystem::path path = dir.path() / "never.db";
  ASSERT_OK(ParseDatabaseUrl("sqlite:" + path.string()).status());
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace udmg::db
