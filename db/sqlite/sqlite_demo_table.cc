// The demo table on SQLite (db/demo_table.h).
#include "db/sqlite/sqlite_demo_table.h"

#include "db/sqlite/sqlite_connection.h"

namespace udmg::db::sqlite {
namespace {

class SqliteDemoTable final : public DemoTable {
 public:
  explicit SqliteDemoTable(std::unique_ptr<Connection> connection)
      : connection_(std::move(connection)) {}

  Status Create() override {
    return connection_->ExecuteScript(
        "CREATE TABLE IF NOT EXISTS credentials (id INTEGER PRIMARY KEY, name TEXT, secret TEXT)",
        "creating the demo table credentials");
  }

  Status Insert(std::span<const DemoRow> rows) override {
    constexpr std::string_view kWhat = "inserting demo rows into credentials";
    return InTransaction(*connection_, Transaction::Kind::kWrite, kWhat, [&]() -> Status {
      UDMG_ASSIGN_OR_RETURN(
          Statement insert,
          connection_->Prepare("INSERT INTO credentials (id, name, secret) VALUES (?1, ?2, ?3)",
                               kWhat));
      for (const DemoRow& row : rows) {
        insert.BindAll(row.id, row.name, row.secret);
        UDMG_RETURN_IF_ERROR(insert.Run());
      }
      return Status::Ok();
    });
  }

 private:
  std::unique_ptr<Connection> connection_;
};

}  // namespace

Result<std::unique_ptr<DemoTable>> OpenSqliteDemoTable(std::string_view path) {
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                        Connection::Open(path, OpenMode::kExisting));
  return std::unique_ptr<DemoTable>(std::make_unique<SqliteDemoTable>(std::move(connection)));
}

}  // namespace udmg::db::sqlite
