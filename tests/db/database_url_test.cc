// db/database_url.h: which backend a --db URL names, decided without opening anything.
#include <filesystem>

#include "db/database_url.h"
#include "tests/db/store_test_support.h"
#include "tests/support/temp_dir.h"

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
  ::udmg::testing::TempDir dir;
  const std::filesystem::path path = dir.path() / "never.db";
  ASSERT_OK(ParseDatabaseUrl("sqlite:" + path.string()).status());
  EXPECT_FALSE(std::filesystem::exists(path));
}

// libpq's messages for these quote part of the password ("could not translate host name
// "ret@127.0.0.1"", "invalid percent-encoded token: "Sup3r%ZZS3cret""): refused before libpq.
TEST(ParseDatabaseUrlTest, UrlsWhoseLibpqMessageWouldQuoteThePasswordAreRefused) {
  for (const char* url : {"postgresql://sp2:sec@ret@127.0.0.1/db",
                          "postgresql://u:Sup3r%ZZS3cret@127.0.0.1/db",
                          "postgresql://u@127.0.0.1/db?password=top%zzsecret",
                          "postgres://u:trailing%@127.0.0.1/db"}) {
    Status status = ParseDatabaseUrl(url).status();
    EXPECT_STATUS(status, kBadInput, "check the URL");
    for (const char* part : {"sec", "ret", "Sup3r", "S3cret", "top", "zzsecret", "trailing"}) {
      EXPECT_EQ(status.message().find(part), std::string::npos) << url << ": " << status.message();
    }
  }
  // An '@' after the host part (in the query) and encoded escapes stay accepted.
  for (const char* url : {"postgresql://u:p%40ss@h/db?application_name=a@b",
                          "postgresql://u@h/db?options=-csearch_path%3Dapp"}) {
    EXPECT_TRUE(ParseDatabaseUrl(url).ok()) << url;
  }
}

TEST(RedactPasswordsTest, EveryReadingOfThePasswordIsRemoved) {
  EXPECT_EQ(RedactPasswords("could not translate host name \"ret@127.0.0.1\" to address",
                            "postgresql://sp2:sec@ret@127.0.0.1/db"),
            "could not translate host name \"***@127.0.0.1\" to address");
  EXPECT_EQ(RedactPasswords("token \"p@ss w\" and \"p w\"",
                            "postgresql://u:p%40ss%20w@h/db?password=p%20w"),
            "token \"***\" and \"***\"");
  EXPECT_EQ(RedactPasswords("x top%zzsecret y", "postgresql://u@h/db?Pass%77ord=top%zzsecret"),
            "x *** y");
  // A '?' in the user-info before libpq's query (found by the URL fuzz harness): libpq reads the
  // password= after the host's '?', so every '?' may start the query.
  EXPECT_EQ(RedactPasswords("host \"hunter2\"", "postgresql://u?:x&a=b@h/db?password=hunter2"),
            "host \"***\"");
  // Pieces made of stars alone are their own mask (the fuzz harness found them growing the
  // message at each pass); the other pieces are still removed.
  EXPECT_EQ(RedactPasswords("x * ** e y", "postgresql://u:*@**@*@e@*@h/db"), "x * ** *** y");
  // Nothing to remove: the message is left as it is.
  EXPECT_EQ(RedactPasswords("connection refused", "postgresql://u@h/db"), "connection refused");
}

}  // namespace
}  // namespace udmg::db
