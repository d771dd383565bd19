// The demo table on PostgreSQL (db/demo_table.h): rows go in by COPY.
#include "db/postgres/postgres_demo_table.h"

#include <string>
#include <tuple>
#include <vector>

#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_schema.h"

namespace udmg::db::postgres {
namespace {

class PgDemoTable final : public DemoTable {
 public:
  explicit PgDemoTable(std::unique_ptr<PgConnection> connection)
      : connection_(std::move(connection)) {}

  Status Create() override {
    return connection_->RunStatus(
        "creating the demo table credentials", Retry::kIdempotent,
        [&](pqxx::connection& live) -> Status {
          pqxx::nontransaction(live).exec(
              "CREATE TABLE IF NOT EXISTS credentials (id integer PRIMARY KEY, name text, "
              "secret text)");
          return Status::Ok();
        });
  }

  Status Insert(std::span<const DemoRow> rows) override {
    return connection_->RunStatus(
        "inserting demo rows into credentials", Retry::kNotIdempotent,
        [&](pqxx::connection& live) -> Status {
          pqxx::work transaction(live);
          {
            pqxx::stream_to stream(transaction, "credentials",
                                   std::vector<std::string>{"id", "name", "secret"});
            for (const DemoRow& row : rows) {
              stream << std::make_tuple(row.id, row.name, row.secret);
            }
            stream.complete();
          }
          transaction.commit();
          return Status::Ok();
        });
  }

 private:
  std::unique_ptr<PgConnection> connection_;
};

}  // namespace

Result<std::unique_ptr<DemoTable>> OpenPostgresDemoTable(std::string_view url) {
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> connection, PgConnection::Open(url));
  UDMG_RETURN_IF_ERROR(RequireSchema(*connection));
  return std::unique_ptr<DemoTable>(std::make_unique<PgDemoTable>(std::move(connection)));
}

}  // namespace udmg::db::postgres
