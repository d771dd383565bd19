// MirrorToSqlite (cli_runner.h): a SQLite copy of a PostgreSQL test database, so that tools that
// read SQLite only (the Python interop script) check the PostgreSQL backend too.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <pqxx/pqxx>
#include <set>
#include <system_error>

#include "tests/e2e/cli_runner.h"

namespace udmg::testing {
namespace {

constexpr pqxx::oid kInt2 = 21, kInt4 = 23, kInt8 = 20;

std::string Quote(const std::string& identifier) { return "\"" + identifier + "\""; }

// Runs SQL on the SQLite copy; false (with a test failure) when it fails.
bool SqliteRun(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return true;
  ADD_FAILURE() << "mirror: " << (error != nullptr ? error : "sqlite error") << ": " << sql;
  sqlite3_free(error);
  return false;
}

// Copies one table: the same column names, each value with its type (integer, text, NULL).
void CopyTable(pqxx::work& source, sqlite3* target, const std::string& table) {
  pqxx::result rows = source.exec("SELECT * FROM " + Quote(table));
  std::string columns, placeholders;
  for (pqxx::row_size_type i = 0; i < rows.columns(); ++i) {
    columns += (i ? ", " : "") + Quote(rows.column_name(i));
    placeholders += i ? ", ?" : "?";
  }
  if (!SqliteRun(target, "CREATE TABLE " + Quote(table) + " (" + columns + ")")) return;
  sqlite3_stmt* insert = nullptr;
  std::string sql = "INSERT INTO " + Quote(table) + " VALUES (" + placeholders + ")";
  if (sqlite3_prepare_v2(target, sql.c_str(), -1, &insert, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "mirror: " << sqlite3_errmsg(target) << ": " << sql;
    return;
  }
  for (const pqxx::row& row : rows) {
    for (pqxx::row_size_type i = 0; i < row.size(); ++i) {
      const pqxx::field& field = row[i];
      int column = static_cast<int>(i) + 1;
      pqxx::oid type = rows.column_type(i);
      if (field.is_null()) {
        sqlite3_bind_null(insert, column);
      } else if (type == kInt2 || type == kInt4 || type == kInt8) {
        sqlite3_bind_int64(insert, column, field.as<int64_t>());
      } else {
        sqlite3_bind_text(insert, column, field.c_str(), static_cast<int>(field.size()),
                          SQLITE_TRANSIENT);
      }
    }
    if (sqlite3_step(insert) != SQLITE_DONE) {
      ADD_FAILURE() << "mirror: " << sqlite3_errmsg(target) << " copying " << table;
      break;
    }
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
}

}  // namespace

void MirrorToSqlite(const std::string& postgres_url, const std::filesystem::path& sqlite_path) {
  std::error_code ignored;
  std::filesystem::remove(sqlite_path, ignored);
  sqlite3* target = nullptr;
  if (sqlite3_open(sqlite_path.c_str(), &target) != SQLITE_OK) {
    ADD_FAILURE() << "mirror: cannot create " << sqlite_path << ": " << sqlite3_errmsg(target);
    sqlite3_close(target);
    return;
  }
  try {
    pqxx::connection connection(postgres_url);
    pqxx::work source(connection, "mirror");  // one snapshot for every table
    std::set<std::string> tables = {"udmg_root_keys", "udmg_master_keys",
                                    "udmg_encrypted_columns"};
    for (const pqxx::row& row : source.exec("SELECT DISTINCT table_name FROM udmg_encrypted_columns")) {
      tables.insert(row[0].as<std::string>());
    }
    SqliteRun(target, "BEGIN");
    for (const std::string& table : tables) CopyTable(source, target, table);
    SqliteRun(target, "COMMIT");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "mirror: reading the PostgreSQL test database failed: " << e.what();
  }
  sqlite3_close(target);
}

}  // namespace udmg::testing
