#include "tests/db/postgres_test_database.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <string_view>
#include <thread>

namespace udmg::db::testing {
namespace {

std::string NewSchemaName() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return "udmg_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(random() % 1'000'000);
}

class PostgresTestDatabase final : public TestDatabase {
 public:
  PostgresTestDatabase(const std::string& server_url, std::string schema)
      : schema_(std::move(schema)),
        server_url_(server_url),
        url_(UrlWithSearchPath(server_url, schema_)) {
    try {
      connection_ = std::make_unique<pqxx::connection>(server_url);
      pqxx::nontransaction setup(*connection_);
      setup.exec("SET client_min_messages TO warning");
      setup.exec("CREATE SCHEMA " + schema_);
      setup.exec("SET search_path TO " + schema_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot set up a test schema on " << server_url << ": " << e.what();
    }
  }
  ~PostgresTestDatabase() override {
    if (connection_ == nullptr) return;
    try {
      // A fault test may have restarted the server under this connection: connect again.
      try {
        pqxx::nontransaction(*connection_).exec("SELECT 1");
      } catch (const pqxx::broken_connection&) {
        connection_ = std::make_unique<pqxx::connection>(server_url_);
      }
      pqxx::nontransaction(*connection_).exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test schema " << schema_ << ": " << e.what();
    }
  }

  std::string url() const override { return url_; }

  std::string TryExecute(const std::string& sql) override {
    try {
      pqxx::nontransaction(*connection_).exec(sql);
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  std::string QueryText(const std::string& sql) override {
    try {
      pqxx::result rows = pqxx::nontransaction(*connection_).exec(sql);
      if (rows.empty() || rows.columns() == 0) return "";
      return rows[0][0].is_null() ? "NULL" : rows[0][0].as<std::string>();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "test query failed: " << e.what() << ": " << sql;
      return "";
    }
  }

  bool WaitForBlockedConnection() override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (QueryText("SELECT count(*) FROM pg_stat_activity "
                     "WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))") == "0") {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the poll's pace only
    }
    return true;
  }

  std::string Dump() override {
    std::string dump;
    try {
      pqxx::nontransaction read(*connection_);
      for (const pqxx::row& definition : read.exec_params(
               "SELECT table_name::text, column_name::text, data_type::text, "
               "coalesce(column_default, '') FROM information_schema.columns "
               "WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
               schema_)) {
        for (const pqxx::field& field : definition) dump += field.as<std::string>() + " ";
        dump += "\n";
      }
      for (const pqxx::row& index : read.exec_params(
               "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
               schema_)) {
        dump += index[0].as<std::string>() + "\n";
      }
      for (const pqxx::row& table : read.exec_params(
               "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
               schema_)) {
        std::string name = table[0].as<std::string>();
        std::vector<std::string> lines;
        for (const pqxx::row& row : read.exec("SELECT * FROM \"" + name + "\"")) {
          std::string line = name + ":";
          for (const pqxx::field& value : row) {
            line += " " + (value.is_null() ? std::string("NULL") : "'" + value.as<std::string>() + "'");
          }
          lines.push_back(line);
        }
        std::sort(lines.begin(), lines.end());
        for (const std::string& line : lines) dump += line + "\n";
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dumping test schema " << schema_ << " failed: " << e.what();
    }
    return dump;
  }

 private:
  std::string schema_;
  std::string server_url_;
  std::string url_;
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace

std::optional<std::string> TestPostgresUrl() {
  const char* url = std::getenv("UDMG_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

bool PostgresRequired() {
  const char* required = std::getenv("UDMG_REQUIRE_POSTGRES");
  return required != nullptr && std::string_view(required) == "1";
}

std::string UrlWithSearchPath(const std::string& url, const std::string& schema) {
  char separator = url.find('?') == std::string::npos ? '?' : '&';
  // udmg.schema too: other tests' schemas on the same server hold udmg_ tables of their own.
  return url + separator + "options=-csearch_path%3D" + schema + "%20-cudmg.schema%3D" + schema;
}

std::unique_ptr<TestDatabase> MakePostgresDatabase() {
  std::optional<std::string> url = TestPostgresUrl();
  if (!url) {
    ADD_FAILURE() << (PostgresRequired() ? kPostgresRequiredMessage : kNoPostgresMessage);
    return nullptr;
  }
  return std::make_unique<PostgresTestDatabase>(*url, NewSchemaName());
}

}  // namespace udmg::db::testing
