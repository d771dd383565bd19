// Pieces of the PostgreSQL backend that need no server: URL redaction, the text[] literal, key
// binding per key column type, and the names of the compare-and-swap methods.
#include <gtest/gtest.h>

#include "db/postgres/postgres_cas.h"
#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_keys.h"

namespace udmg::db::postgres {
namespace {

// Each URL and what RedactUrl shows of it.
struct Redaction {
  const char* url;
  const char* shown;
};

constexpr Redaction kRedactions[] = {
    // A password in the user info or in a parameter, and text that is no URL.
    {"postgresql://u:hunter2@db:5432/prod", "postgresql://u@db:5432/prod"},
    {"postgres://u:p@ss@w0rd@db/prod", "postgres://u@db/prod"},
    {"postgresql://u@db/prod?password=hunter2&sslmode=require",
     "postgresql://u@db/prod?sslmode=require"},
    {"postgresql://db/prod?sslmode=require&PassWord=hunter2",
     "postgresql://db/prod?sslmode=require"},
    {"postgresql://u@db/prod", "postgresql://u@db/prod"},
    {"postgresql:///prod", "postgresql:///prod"},
    {"host=db password=hunter2", "a PostgreSQL URL"},
    // Found by fuzz/database_url_fuzzer: libpq reads the password up to the first '@' even past
    // a '?', so splitting the query off first showed it whole; libpq also percent-decodes
    // parameter names, and reads text without a postgres scheme as keyword=value (a password
    // anywhere).
    {"postgresql://udmg:hun?ter2@db/keys?sslmode=require",
     "postgresql://udmg@db/keys?sslmode=require"},
    {"postgresql://udmg?:hunter2@db/keys", "postgresql://udmg?@db/keys"},
    {"postgresql://db/keys?pass%77ord=hunter2&sslmode=require",
     "postgresql://db/keys?sslmode=require"},
    {"postgresql://db/keys?sslpassword=hunter2&pass%zzword=hunter2&x=%zz",
     "postgresql://db/keys?x=%zz"},
    {"host=db password=hunter2 dbname=postgresql://x", "a PostgreSQL URL"},
    {"mysql://u:hunter2@db/keys", "a PostgreSQL URL"},
    // Dropping a parameter must not turn a later '@' into user info with a password.
    {"postgresql://db?:&password=/&x=@h", "postgresql://db?:&x=%40h"},
};

TEST(RedactUrlTest, RemovesWhatLibpqReadsAsThePassword) {
  for (const Redaction& redaction : kRedactions) {
    EXPECT_EQ(RedactUrl(redaction.url), redaction.shown) << redaction.url;
  }
}

TEST(TextArrayLiteralTest, QuotesEveryElement) {
  EXPECT_EQ(TextArrayLiteral({}), "{}");
  EXPECT_EQ(TextArrayLiteral({"a", "", "NULL"}), "{\"a\",\"\",\"NULL\"}");
  EXPECT_EQ(TextArrayLiteral({"a\"b", "c\\d", "{e,f}"}), "{\"a\\\"b\",\"c\\\\d\",\"{e,f}\"}");
}

TEST(KeyParameterTest, IntegerColumnsTakeDecimalKeysOnly) {
  KeyColumnType int4{"integer", 32};
  EXPECT_EQ(KeyParameter(int4, RowKey(int64_t{-12})), "-12");
  EXPECT_EQ(KeyParameter(int4, RowKey(std::string("007"))), "7");
  EXPECT_EQ(KeyParameter(int4, RowKey(std::string("+5"))), "5");
  EXPECT_EQ(KeyParameter(int4, RowKey(std::string("abc"))), std::nullopt);
  EXPECT_EQ(KeyParameter(int4, RowKey(std::string(""))), std::nullopt);
  EXPECT_EQ(KeyParameter(int4, RowKey(std::string("5 "))), std::nullopt);
  EXPECT_EQ(KeyParameter(int4, RowKey(int64_t{1} << 31)), std::nullopt);
  EXPECT_EQ(KeyParameter(KeyColumnType{"smallint", 16}, RowKey(int64_t{40000})), std::nullopt);
  EXPECT_EQ(KeyParameter(KeyColumnType{"bigint", 64}, RowKey(INT64_MIN)),
            "-9223372036854775808");
}

TEST(KeyParameterTest, OtherColumnsTakeAnyKeyAsText) {
  KeyColumnType text{"text", 0};
  EXPECT_EQ(KeyParameter(text, RowKey(int64_t{42})), "42");
  EXPECT_EQ(KeyParameter(text, RowKey(std::string("007"))), "007");
  EXPECT_EQ(KeyParameter(text, RowKey(std::string(""))), "");
}

TEST(CasMethodTest, NamesRoundTrip) {
  for (CasMethod method :
       {CasMethod::kUnnest, CasMethod::kValues, CasMethod::kCopy, CasMethod::kRowByRow}) {
    EXPECT_EQ(ParseCasMethod(CasMethodName(method)), method);
  }
  EXPECT_EQ(ParseCasMethod("UNNEST"), std::nullopt);
}

}  // namespace
}  // namespace udmg::db::postgres
