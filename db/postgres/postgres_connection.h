// One PostgreSQL connection (libpqxx 6.4) with the rules every PgStore call follows:
//  - every pqxx exception is caught here and becomes a Status with one line naming the server
//    (password removed), the operation and the cause: unreachable server, bad credentials,
//    missing privilege or SQL error (all kDatabase); never a password, never a bound value;
//  - a dropped connection is replaced by a new one and the operation run again, with backoff;
//    so are serialization failures and deadlocks. An operation whose COMMIT may or may not have
//    happened (the connection dropped during COMMIT) is run again only when it is idempotent;
//  - statements are prepared once per connection on first use and re-prepared after a reconnect;
//  - whether the session may write (hot standby, default_transaction_read_only) is read once per
//    connection (access()); a write the server refuses as read-only (SQLSTATE 25006) is one line
//    naming the cause and the primary, never retried.
//
// Thread-safety: none. A PgConnection, like a pqxx::connection, belongs to one thread.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "db/database_url.h"
#include "db/store.h"

namespace udmg::db::postgres {

// The udmg_ tables are found in several schemas and neither udmg.schema nor the search_path
// says which holds this database's keyring; what() is the one-line message.
class ToolSchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether an operation may run again after its COMMIT was lost (see the file comment).
enum class Retry { kIdempotent, kNotIdempotent };

// How often and how patiently a failed operation is tried again.
struct RetryPolicy {
  int max_attempts = 6;
  std::chrono::milliseconds first_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

class PgConnection {
 public:
  // Connects once, without retrying: a wrong URL or a stopped server fails at once, one line.
  static Result<std::unique_ptr<PgConnection>> Open(std::string_view url,
                                                    RetryPolicy policy = RetryPolicy());

  // "postgresql://user@host:port/db" with any password removed.
  const std::string& describe() const { return describe_; }

  // Whether the current session may write (read when it connected; see db::SessionAccess).
  const SessionAccess& access() const { return access_; }

  // Runs `body` on the live connection, turning pqxx exceptions into kDatabase and retrying
  // transient failures as the file comment says. `what` names the operation ("reading the
  // keyring"). `body` opens its own transaction, so a retry starts from scratch.
  template <typename T>
  Result<T> Run(std::string_view what, Retry retry,
                const std::function<Result<T>(pqxx::connection&)>& body);
  Status RunStatus(std::string_view what, Retry retry,
                   const std::function<Status(pqxx::connection&)>& body);
  // Run for reads: `read` on a pqxx::nontransaction (each statement sees the latest commits),
  // retried as idempotent.
  template <typename T>
  Result<T> Read(std::string_view what,
                 const std::function<Result<T>(pqxx::transaction_base&)>& read);
  // Run for reads that must see one consistent snapshot (repeatable read, read only).
  template <typename T>
  Result<T> ReadSnapshot(std::string_view what,
                         const std::function<Result<T>(pqxx::transaction_base&)>& read);
  // Read of every row `sql` returns with `params`, each made into a T by `read_row` (inside the
  // run, so a value that does not convert is reported like any other failure).
  template <typename T, typename... Params>
  Result<std::vector<T>> ReadRows(std::string_view what, const std::string& sql,
                                  const std::function<Result<T>(const pqxx::row&)>& read_row,
                                  const Params&... params);
  // Run for one statement: `sql` with `params`, in autocommit (a transaction of its own, without
  // the two round trips of BEGIN and COMMIT).
  template <typename... Params>
  Status Execute(std::string_view what, Retry retry, const std::string& sql,
                 const Params&... params);

  // The name of a statement prepared from `sql` on the current connection (prepared on first
  // use). Call inside a Run body.
  std::string Prepared(const std::string& sql);

  // Session-scoped objects (temporary tables) made on the current connection; forgotten when
  // the connection is replaced, so they are made again.
  bool HasSessionObject(const std::string& name) const { return session_objects_.count(name); }
  void AddSessionObject(const std::string& name) { session_objects_.insert(name); }

  // The schemas of the session's own search_path before udmg-server put its schema first
  // (current_schemas(false) as a text[] literal): where an operator's table names resolve.
  const std::string& user_schemas() const { return user_schemas_; }

  // Backend process id of the current connection (tests terminate it to simulate a drop).
  int BackendPid();

  // Counts reconnects made so far (tests and metrics).
  int reconnects() const { return reconnects_; }

 private:
  // What Connect learns about a new session besides the connection itself.
  struct Session {
    std::string user_schemas;
    SessionAccess access;
  };

  PgConnection(std::string url, std::string describe, std::unique_ptr<pqxx::connection> live,
               RetryPolicy policy, Session session)
      : url_(std::move(url)),
        describe_(std::move(describe)),
        live_(std::move(live)),
        policy_(policy),
        user_schemas_(std::move(session.user_schemas)),
        access_(session.access) {}

  // One attempt of Run: OK, a final error, or a transient failure to retry.
  enum class Outcome { kDone, kRetry };
  Outcome Attempt(std::string_view what, Retry retry,
                  const std::function<Status(pqxx::connection&)>& body, Status& result);
  // After a drop that may or may not have saved the change (`what_happened`): kDatabase saying
  // so; tried again only when the operation is idempotent.
  Outcome ChangeMayBeLost(const std::string& what_happened, Retry retry, Status& result);
  // Drops the current connection; the next attempt connects again.
  void Discard();
  // True (with `result` and `outcome` set) when `e` came from a connection that is now closed.
  bool ConnectionClosedMidStatement(const std::string& context, const std::exception& e,
                                    Retry retry, Status& result, Outcome& outcome);
  // A new libpq connection, notices below WARNING silenced (pqxx prints them to stderr), its
  // search_path led by the tool's schema (PinToolSchema); `session` receives the session's own
  // schemas and its access. Throws pqxx exceptions, and ToolSchemaError when the tool's schema
  // is ambiguous.
  static std::unique_ptr<pqxx::connection> Connect(const std::string& url, Session& session);
  // `context` plus why nothing can be written on this session, and where to run instead.
  std::string ReadOnlyMessage(const std::string& context) const;

  const std::string url_;
  const std::string describe_;
  std::unique_ptr<pqxx::connection> live_;  // nullptr after a drop, until reconnected
  RetryPolicy policy_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::set<std::string> session_objects_;
  std::string user_schemas_;
  SessionAccess access_;
  int reconnects_ = 0;
};

template <typename T>
Result<T> PgConnection::Run(std::string_view what, Retry retry,
                            const std::function<Result<T>(pqxx::connection&)>& body) {
  std::optional<Result<T>> value;
  Status status = RunStatus(what, retry, [&](pqxx::connection& connection) -> Status {
    value.emplace(body(connection));
    return value->status();
  });
  if (!status.ok()) return status.error();
  return std::move(*value);
}

template <typename T>
Result<T> PgConnection::Read(std::string_view what,
                             const std::function<Result<T>(pqxx::transaction_base&)>& read) {
  return Run<T>(what, Retry::kIdempotent, [&](pqxx::connection& live) -> Result<T> {
    pqxx::nontransaction transaction(live);
    return read(transaction);
  });
}

template <typename T>
Result<T> PgConnection::ReadSnapshot(
    std::string_view what, const std::function<Result<T>(pqxx::transaction_base&)>& read) {
  return Run<T>(what, Retry::kIdempotent, [&](pqxx::connection& live) -> Result<T> {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> snapshot(live);
    return read(snapshot);
  });
}

template <typename T, typename... Params>
Result<std::vector<T>> PgConnection::ReadRows(
    std::string_view what, const std::string& sql,
    const std::function<Result<T>(const pqxx::row&)>& read_row, const Params&... params) {
  return Read<std::vector<T>>(
      what, [&](pqxx::transaction_base& transaction) -> Result<std::vector<T>> {
        std::vector<T> rows;
        for (const pqxx::row& row : transaction.exec_params(sql, params...)) {
          UDMG_ASSIGN_OR_RETURN(T value, read_row(row));
          rows.push_back(std::move(value));
        }
        return rows;
      });
}

template <typename... Params>
Status PgConnection::Execute(std::string_view what, Retry retry, const std::string& sql,
                             const Params&... params) {
  return RunStatus(what, retry, [&](pqxx::connection& live) -> Status {
    pqxx::nontransaction(live).exec_params(sql, params...);
    return Status::Ok();
  });
}

}  // namespace udmg::db::postgres
