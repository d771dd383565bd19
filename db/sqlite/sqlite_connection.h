// RAII over the SQLite C API: one Connection owns a sqlite3* and its cache of prepared statements;
// a Statement borrows one cached sqlite3_stmt* and resets it when done; a Transaction rolls back
// unless committed. Every failure is kDatabase with one line: the database, what failed, and
// sqlite3_errmsg (never a bound value).
//
// Thread-safety: none. A Connection, and everything borrowed from it, belongs to one thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/unique_handle.h"
#include "db/store.h"

namespace udmg::db::sqlite {

using DatabaseHandle = UniqueHandle<sqlite3, sqlite3_close_v2>;
using StatementHandle = UniqueHandle<sqlite3_stmt, sqlite3_finalize>;

// How long a writer waits for another one's lock before failing with "database is locked".
inline constexpr int kBusyTimeoutMilliseconds = 30'000;

// A prepared statement borrowed from a Connection's cache. Binding indexes start at 1, column
// indexes at 0. Destruction resets it and clears its bindings, ready for the next user.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* statement, std::string context);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind failures are kept and reported by the next Step/Run.
  void BindInt(int index, int64_t value);
  void BindText(int index, std::string_view value);
  // As BindText without SQLite's copy (SQLITE_STATIC): `value` must stay valid and unchanged
  // until this Statement is destroyed or the index is bound again. For hot loops (compare-and-swap).
  void BindBorrowedText(int index, std::string_view value);
  void BindOptionalText(int index, const std::optional<std::string>& value);
  void BindOptionalInt(int index, const std::optional<int64_t>& value);
  void BindNull(int index);
  // Integer keys as integers, text keys as text, so comparisons keep the key's own type.
  void BindKey(int index, const RowKey& key);
  // Binds `values` to ?1, ?2, ... in order: integers as integers, strings as text, an empty
  // optional as NULL.
  template <typename... Values>
  void BindAll(const Values&... values) {
    int index = 0;
    (BindValue(++index, values), ...);
  }

  // One step: true when a row is ready, false when the statement is done.
  Result<bool> Step();
  // Steps to the end (INSERT, UPDATE, DELETE, DDL) and resets, so the statement can run again.
  Status Run();
  // Resets for another execution, keeping the bindings (for loops over many rows).
  void Reset();
  // Steps to the end, calling `read_row(*this)` on each row; stops at the first failure, of a
  // step or of `read_row` when it returns a Status.
  template <typename ReadRow>
  Status ForEachRow(ReadRow&& read_row);
  // After a failed Step or Run: SQLite's message when it refused the row's data (a constraint, a
  // trigger's RAISE, a value too big or of the wrong type); nullopt after any other failure.
  const std::optional<std::string>& data_refusal() const { return data_refusal_; }

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  // The same bytes without a copy, valid until the next Step or Reset.
  std::string_view TextView(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  // An INTEGER stays an integer; anything else is read as text.
  RowKey Key(int column) const;

 private:
  Error Failure(int code) const;
  template <typename Value>
  void BindValue(int index, const Value& value);

  sqlite3* db_;
  sqlite3_stmt* statement_;
  std::string context_;  // "sqlite:/path: reading the keyring"
  int bind_error_ = SQLITE_OK;
  std::optional<std::string> data_refusal_;
};

class Connection {
 public:
  // Opens and sets the connection up: busy_timeout, journal_mode=WAL, synchronous=NORMAL,
  // foreign_keys=ON. kCreate creates a missing file (never its directory); kExisting refuses a
  // missing file or one without udmg_schema_migrations (kNotInitialized) before anything writes.
  static Result<std::unique_ptr<Connection>> Open(std::string_view path,
                                                  OpenMode mode = OpenMode::kCreate);

  // "sqlite:/abs/path"
  const std::string& describe() const { return describe_; }

  // A statement from the cache, prepared on first use. `what` names the operation for errors
  // ("reading the keyring"). The same SQL must not be borrowed twice at once.
  Result<Statement> Prepare(std::string_view sql, std::string_view what);
  // Prepares `sql`, binds `values` (Statement::BindAll) and runs it to the end.
  template <typename... Values>
  Status Execute(std::string_view sql, std::string_view what, const Values&... values);
  // The integer in the first column of the first row `sql` returns with `values` bound; nullopt
  // when it returns no row.
  template <typename... Values>
  Result<std::optional<int64_t>> QueryInt(std::string_view sql, std::string_view what,
                                          const Values&... values);
  // Every row `sql` returns with `values` bound, each made into a T by `read_row`.
  template <typename T, typename... Values>
  Result<std::vector<T>> ReadRows(std::string_view sql, std::string_view what,
                                  const std::function<Result<T>(const Statement&)>& read_row,
                                  const Values&... values);
  // Runs a script of several statements once, uncached (schema migrations).
  Status ExecuteScript(const char* sql, std::string_view what);

  // Registers an application-defined SQL function (sqlite3_create_function_v2) that gets `data`.
  using Function = void (*)(sqlite3_context*, int, sqlite3_value**);
  Status CreateFunction(const char* name, int arguments, int flags, void* data, Function body);

  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

 private:
  Connection(DatabaseHandle db, std::string describe)
      : db_(std::move(db)), describe_(std::move(describe)) {}
  Status RequireSchema();
  Status Configure();

  DatabaseHandle db_;  // declared first: destroyed after the statements that use it
  std::string describe_;
  std::unordered_map<std::string, StatementHandle> statements_;
};

// BEGIN IMMEDIATE (kWrite: takes the database-wide write lock now, waiting up to the busy
// timeout) or BEGIN DEFERRED (kRead: one consistent snapshot). Rolls back on destruction unless
// Commit() succeeded, so an early return or an exception leaves nothing behind.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static Result<Transaction> Begin(Connection& connection, Kind kind, std::string_view what);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  Transaction(Connection* connection, std::string what)
      : connection_(connection), what_(std::move(what)) {}
  Connection* connection_;  // nullptr once committed, rolled back or moved from
  std::string what_;
};

// Runs `body` inside a Transaction of `kind` and commits when it succeeds; a failure rolls back.
Status InTransaction(Connection& connection, Transaction::Kind kind, std::string_view what,
                     const std::function<Status()>& body);

// One statement (Connection::Execute) in a write transaction of its own.
template <typename... Values>
Status ExecuteInWriteTransaction(Connection& connection, std::string_view sql,
                                 std::string_view what, const Values&... values) {
  return InTransaction(connection, Transaction::Kind::kWrite, what,
                       [&] { return connection.Execute(sql, what, values...); });
}

template <typename ReadRow>
Status Statement::ForEachRow(ReadRow&& read_row) {
  for (;;) {
    UDMG_ASSIGN_OR_RETURN(bool has_row, Step());
    if (!has_row) return Status::Ok();
    if constexpr (std::is_void_v<std::invoke_result_t<ReadRow&, const Statement&>>) {
      read_row(*this);
    } else {
      UDMG_RETURN_IF_ERROR(read_row(*this));
    }
  }
}

// Whether a value for BindAll is an optional (bound as NULL when empty).
template <typename T>
inline constexpr bool kIsOptional = false;
template <typename T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

template <typename Value>
void Statement::BindValue(int index, const Value& value) {
  if constexpr (kIsOptional<Value>) {
    value ? BindValue(index, *value) : BindNull(index);
  } else if constexpr (std::is_integral_v<Value>) {
    BindInt(index, static_cast<int64_t>(value));
  } else {
    BindText(index, value);
  }
}

template <typename... Values>
Status Connection::Execute(std::string_view sql, std::string_view what, const Values&... values) {
  UDMG_ASSIGN_OR_RETURN(Statement statement, Prepare(sql, what));
  statement.BindAll(values...);
  return statement.Run();
}

template <typename T, typename... Values>
Result<std::vector<T>> Connection::ReadRows(
    std::string_view sql, std::string_view what,
    const std::function<Result<T>(const Statement&)>& read_row, const Values&... values) {
  UDMG_ASSIGN_OR_RETURN(Statement statement, Prepare(sql, what));
  statement.BindAll(values...);
  std::vector<T> rows;
  UDMG_RETURN_IF_ERROR(statement.ForEachRow([&](const Statement& row) -> Status {
    UDMG_ASSIGN_OR_RETURN(T value, read_row(row));
    rows.push_back(std::move(value));
    return Status::Ok();
  }));
  return rows;
}

template <typename... Values>
Result<std::optional<int64_t>> Connection::QueryInt(std::string_view sql, std::string_view what,
                                                    const Values&... values) {
  UDMG_ASSIGN_OR_RETURN(Statement statement, Prepare(sql, what));
  statement.BindAll(values...);
  UDMG_ASSIGN_OR_RETURN(bool found, statement.Step());
  if (!found) return std::optional<int64_t>();
  return std::optional<int64_t>(statement.Int(0));
}

}  // namespace udmg::db::sqlite
