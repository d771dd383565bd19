#include "bench/e2e_pg_floor.h"

#include <libpq-fe.h>

#include <string>
#include <utility>
#include <vector>

#include "base/unique_handle.h"

namespace udmg::bench {
namespace {

using PgConn = UniqueHandle<PGconn, PQfinish>;
using PgResult = UniqueHandle<PGresult, PQclear>;

Error PgError(PGconn* conn, const std::string& what) {
  std::string message = PQerrorMessage(conn);
  if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  return Error{ErrorCode::kDatabase, what + " failed: " + message};
}

Result<PgConn> Connect(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()));
  if (conn.get() == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    return PgError(conn.get(), "connecting");
  }
  return conn;
}

// Takes a statement's result and checks its status (an Error with the server's message).
Status Check(PGconn* conn, PGresult* raw, ExecStatusType expect, const std::string& what) {
  PgResult result(raw);
  if (result.get() == nullptr || PQresultStatus(result.get()) != expect) {
    return PgError(conn, what);
  }
  return Status::Ok();
}

Status Exec(PGconn* conn, const char* sql) {
  return Check(conn, PQexec(conn, sql), PGRES_COMMAND_OK, sql);
}

// One keyset page: the next `batch_size` rows after `after`, as (id text, value).
Status ReadPage(PGconn* conn, const std::string& after, const std::string& limit,
                std::vector<std::pair<std::string, std::string>>& page) {
  const char* params[] = {after.c_str(), limit.c_str()};
  PgResult result(PQexecPrepared(conn, "page", 2, params, nullptr, nullptr, 0));
  if (result.get() == nullptr || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return PgError(conn, "reading a page");
  }
  page.clear();
  for (int row = 0, rows = PQntuples(result.get()); row < rows; ++row) {
    page.emplace_back(PQgetvalue(result.get(), row, 0),
                      std::string(PQgetvalue(result.get(), row, 1),
                                  static_cast<size_t>(PQgetlength(result.get(), row, 1))));
  }
  return Status::Ok();
}

Status PreparePage(PGconn* conn) {
  return Check(conn,
               PQprepare(conn, "page",
                         "SELECT id, secret FROM credentials WHERE id > $1 ORDER BY id LIMIT $2", 2,
                         nullptr),
               PGRES_COMMAND_OK, "preparing the page read");
}

// An element of a text-format array literal: quoted, with `"` and `\` escaped.
void AppendArrayElement(std::string& array, const std::string& value) {
  array += array.size() == 1 ? "\"" : ",\"";
  for (char c : value) {
    if (c == '"' || c == '\\') array += '\\';
    array += c;
  }
  array += '"';
}

// Runs `write_page` on every keyset page of the dataset; the rows read.
template <typename WritePage>
Result<uint64_t> ForEachPage(PGconn* conn, size_t batch_size, WritePage write_page) {
  UDMG_RETURN_IF_ERROR(PreparePage(conn));
  const std::string limit = std::to_string(batch_size);
  std::vector<std::pair<std::string, std::string>> page;
  std::string after = "0";  // the dataset's ids start at 1
  uint64_t rows = 0;
  while (true) {
    UDMG_RETURN_IF_ERROR(ReadPage(conn, after, limit, page));
    if (page.empty()) break;
    UDMG_RETURN_IF_ERROR(write_page(page));
    after = page.back().first;
    rows += page.size();
  }
  return rows;
}

}  // namespace

Result<uint64_t> RunPgRawRewriteUnnest(const std::string& url, size_t batch_size) {
  UDMG_ASSIGN_OR_RETURN(PgConn conn, Connect(url));
  UDMG_RETURN_IF_ERROR(Check(
      conn.get(),
      PQprepare(conn.get(), "cas",
                "UPDATE credentials AS t SET secret = u.v FROM unnest($1::bigint[], $2::text[]) "
                "AS u(id, v) WHERE t.id = u.id AND t.secret = u.v",
                2, nullptr),
      PGRES_COMMAND_OK, "preparing the page write"));
  std::string ids, values;
  return ForEachPage(conn.get(), batch_size, [&](const auto& page) -> Status {
    ids = "{";
    values = "{";
    for (const auto& [id, value] : page) {
      if (ids.size() > 1) ids += ',';
      ids += id;
      AppendArrayElement(values, value);
    }
    ids += '}';
    values += '}';
    const char* params[] = {ids.c_str(), values.c_str()};
    return Check(conn.get(), PQexecPrepared(conn.get(), "cas", 2, params, nullptr, nullptr, 0),
                 PGRES_COMMAND_OK, "writing a page");
  });
}

Result<uint64_t> RunPgRawRewriteRowByRow(const std::string& url, size_t batch_size) {
  UDMG_ASSIGN_OR_RETURN(PgConn conn, Connect(url));
  UDMG_RETURN_IF_ERROR(Check(
      conn.get(),
      PQprepare(conn.get(), "cas",
                "UPDATE credentials SET secret = $1 WHERE id = $2 AND secret = $1", 2, nullptr),
      PGRES_COMMAND_OK, "preparing the row write"));
  return ForEachPage(conn.get(), batch_size, [&](const auto& page) -> Status {
    UDMG_RETURN_IF_ERROR(Exec(conn.get(), "BEGIN"));
    for (const auto& [id, value] : page) {
      const char* params[] = {value.c_str(), id.c_str()};
      UDMG_RETURN_IF_ERROR(Check(conn.get(),
                                 PQexecPrepared(conn.get(), "cas", 2, params, nullptr, nullptr, 0),
                                 PGRES_COMMAND_OK, "writing a row"));
    }
    return Exec(conn.get(), "COMMIT");
  });
}

}  // namespace udmg::bench
