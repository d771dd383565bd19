// Pieces of the PostgreSQL backend that need no server: URL redaction, the text[] literal, key
// binding per key column type, and the names of the compare-and-swap methods.
#include <gtest/gtest.h>

#include "db/postgres/postgres_cas.h"
#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_keys.h"

namespace udmg::db::postgres {
namespace {

TEST(RedactUrlTest, RemovesEveryPassword) {
  EXPECT_EQ(RedactUrl("postgresql://u:hunter2@db:5432/prod"), "postgresql://u@db:5432/prod");
  EXPECT_EQ(RedactUrl("postgres://u:p@ss@w0rd@db/prod"), "postgres://u@db/prod");
  EXPECT_EQ(RedactUrl("postgresql://u@db/prod?password=hunter2&sslmode=require"),
            "postgresql://u@db/prod?sslmode=require");
  EXPECT_EQ(RedactUrl("postgresql://db/prod?sslmode=require&PassWord=hunter2"),
            "postgresql://db/prod?sslmode=require");
  EXPECT_EQ(RedactUrl("postgresql://u@db/prod"), "postgresql://u@db/prod");
  EXPECT_EQ(RedactUrl("postgresql:///prod"), "postgresql:///prod");
  EXPECT_EQ(RedactUrl("host=db password=hunter2"), "a PostgreSQL URL");
}

// Found by fuzz/database_url_fuzzer: libpq reads the password up to the first '@' even past a
// '?', so splitting the query off first showed it whole; libpq also percent-decodes parameter
// names, and reads text without a postgres scheme as keyword=value (a password anywhere).
TEST(RedactUrlTest, RemovesWhatLibpqReadsAsThePassword) {
  EXPECT_EQ(RedactUrl("postgresql://udmg:hun?ter2@db/keys?sslmode=require"),
            "postgresql://udmg@db/keys?sslmode=require");
  EXPECT_EQ(RedactUrl("postgresql://udmg?:hunter2@db/keys"), "postgresql://udmg?@db/keys");
  EXPECT_EQ(RedactUrl("postgresql://db/keys?pass%77ord=hunter2&sslmode=require"),
            "postgresql://db/keys?sslmode=require");
  EXPECT_EQ(RedactUrl("postgresql://db/keys?sslpassword=hunter2&pass%zzword=hunter2&x=%zz"),
            "postgresql://db/keys?x=%zz");
  EXPECT_EQ(RedactUrl("host=db password=hunter2 dbname=postgresql://x"), "a PostgreSQL URL");
  EXPECT_EQ(RedactUrl("mysql://u:hunter2@db/keys"), "a PostgreSQL URL");
  // Dropping a parameter must not turn a later '@' into user info with a password.
  EXPECT_EQ(RedactUrl("postgresql://db?:&password=/&x=@h"), "postgresql://db?:&x=%40h");
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
