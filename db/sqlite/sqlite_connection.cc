#include "db/sqlite/sqlite_connection.h"

#include <filesystem>
#include <system_error>

namespace udmg::db::sqlite {
namespace {

std::string FailureMessage(sqlite3* db, int code, std::string_view context) {
  std::string message = std::string(context) +
                        " failed: " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    message += " (another process held the database lock for over " +
               std::to_string(kBusyTimeoutMilliseconds / 1000) + " s; retry when it is done)";
  }
  return message;
}

}  // namespace

// ---- Statement ------------------------------------------------------------------------------

Statement::Statement(sqlite3* db, sqlite3_stmt* statement, std::string context)
    : db_(db), statement_(statement), context_(std::move(context)) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      statement_(other.statement_),
      context_(std::move(other.context_)),
      bind_error_(other.bind_error_) {
  other.statement_ = nullptr;
}

Statement::~Statement() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

void Statement::BindInt(int index, int64_t value) {
  int code = sqlite3_bind_int64(statement_, index, value);
  if (bind_error_ == SQLITE_OK) bind_error_ = code;
}

void Statement::BindText(int index, std::string_view value) {
  int code = sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
  if (bind_error_ == SQLITE_OK) bind_error_ = code;
}

void Statement::BindBorrowedText(int index, std::string_view value) {
  int code = sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_STATIC,
                                 SQLITE_UTF8);
  if (bind_error_ == SQLITE_OK) bind_error_ = code;
}

void Statement::BindNull(int index) {
  int code = sqlite3_bind_null(statement_, index);
  if (bind_error_ == SQLITE_OK) bind_error_ = code;
}

void Statement::BindOptionalText(int index, const std::optional<std::string>& value) {
  value ? BindText(index, *value) : BindNull(index);
}

void Statement::BindOptionalInt(int index, const std::optional<int64_t>& value) {
  value ? BindInt(index, *value) : BindNull(index);
}

void Statement::BindKey(int index, const RowKey& key) {
  if (const int64_t* number = std::get_if<int64_t>(&key)) {
    BindInt(index, *number);
  } else {
    BindText(index, std::get<std::string>(key));
  }
}

Error Statement::Failure(int code) const {
  return Error{ErrorCode::kDatabase, FailureMessage(db_, code, context_)};
}

Result<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) return Failure(bind_error_);
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  int primary = code & 0xff;
  if (primary == SQLITE_CONSTRAINT || primary == SQLITE_TOOBIG || primary == SQLITE_MISMATCH) {
    data_refusal_ = sqlite3_errmsg(db_);
  }
  return Failure(code);
}

Status Statement::Run() {
  Result<bool> row = Step();
  while (row.ok() && *row) row = Step();
  Reset();
  return row.status();
}

void Statement::Reset() { sqlite3_reset(statement_); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(statement_, column); }

std::string Statement::Text(int column) const { return std::string(TextView(column)); }

std::string_view Statement::TextView(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  int size = sqlite3_column_bytes(statement_, column);  // after column_text, as documented
  return text == nullptr ? std::string_view() : std::string_view(text, static_cast<size_t>(size));
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

RowKey Statement::Key(int column) const {
  if (sqlite3_column_type(statement_, column) == SQLITE_INTEGER) return Int(column);
  return Text(column);
}

// ---- Connection -----------------------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(std::string_view path_text, OpenMode mode) {
  if (path_text.empty()) {
    return Error{ErrorCode::kBadInput, "the database URL 'sqlite:' has no path; use sqlite:PATH"};
  }
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path path = fs::absolute(fs::path(path_text), error).lexically_normal();
  if (error) {
    return Error{ErrorCode::kDatabase, "cannot resolve the database path: " + error.message() +
                                           "; give an absolute path"};
  }
  std::string describe = "sqlite:" + path.string();
  if (fs::is_directory(path, error)) {
    return Error{ErrorCode::kDatabase, "cannot open database " + describe +
                                           ": it is a directory; give the path of a file"};
  }
  if (!fs::is_directory(path.parent_path(), error)) {
    return Error{ErrorCode::kDatabase, "cannot open database " + describe + ": directory " +
                                           path.parent_path().string() +
                                           " does not exist; create it or choose another path"};
  }
  const bool create = mode == OpenMode::kCreate;
  if (!create && !fs::exists(path, error)) {
    return Error{ErrorCode::kNotInitialized,
                 "no database at " + describe +
                     ": run `udmg-server init` to create it, or check the database URL",
                 "database_url"};
  }
  sqlite3* raw = nullptr;
  int code = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, nullptr);
  DatabaseHandle db(raw);  // closes even a half-opened handle
  if (code != SQLITE_OK) {
    return Error{ErrorCode::kDatabase, FailureMessage(raw, code, "opening database " + describe)};
  }
  std::unique_ptr<Connection> connection(new Connection(std::move(db), std::move(describe)));
  // Before anything that locks: a second writer waits for the first instead of failing.
  sqlite3_busy_timeout(connection->db_.get(), kBusyTimeoutMilliseconds);
  if (!create) UDMG_RETURN_IF_ERROR(connection->RequireSchema());
  UDMG_RETURN_IF_ERROR(connection->Configure());
  return connection;
}

// Reads only, so that another application's file is left as it was (WAL comes after).
Status Connection::RequireSchema() {
  UDMG_ASSIGN_OR_RETURN(Statement exists,
                        Prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                "name = 'udmg_schema_migrations'",
                                "looking for udmg-server's tables"));
  UDMG_ASSIGN_OR_RETURN(bool has_row, exists.Step());
  if (has_row && exists.Int(0) > 0) return Status::Ok();
  return Status(ErrorCode::kNotInitialized,
                describe_ + " holds no udmg-server tables (an empty file or another "
                            "application's database): run `udmg-server init` to set it up, or "
                            "check the database URL",
                "database_url");
}

Status Connection::Configure() {
  {
    UDMG_ASSIGN_OR_RETURN(Statement journal,
                          Prepare("PRAGMA journal_mode = WAL", "setting the WAL journal mode"));
    UDMG_ASSIGN_OR_RETURN(bool has_row, journal.Step());
    std::string mode = has_row ? journal.Text(0) : "";
    if (mode != "wal") {
      return Status(ErrorCode::kDatabase,
                    describe_ + ": the database refused the WAL journal mode (it stays in '" +
                        mode + "' mode); check that its directory is writable and local");
    }
  }
  return ExecuteScript("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                       "setting up the connection");
}

Result<Statement> Connection::Prepare(std::string_view sql, std::string_view what) {
  std::string context = describe_ + ": " + std::string(what);
  auto found = statements_.find(std::string(sql));
  if (found == statements_.end()) {
    sqlite3_stmt* raw = nullptr;
    int code = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StatementHandle statement(raw);
    if (code != SQLITE_OK) {
      return Error{ErrorCode::kDatabase, FailureMessage(db_.get(), code, context)};
    }
    found = statements_.emplace(std::string(sql), std::move(statement)).first;
  }
  return Statement(db_.get(), found->second.get(), std::move(context));
}

Status Connection::CreateFunction(const char* name, int arguments, int flags, void* data,
                                  Function body) {
  int code = sqlite3_create_function_v2(db_.get(), name, arguments, flags, data, body, nullptr,
                                        nullptr, nullptr);
  if (code == SQLITE_OK) return Status::Ok();
  return Status(ErrorCode::kDatabase,
                FailureMessage(db_.get(), code, describe_ + ": registering " + name));
}

Status Connection::ExecuteScript(const char* sql, std::string_view what) {
  int code = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (code == SQLITE_OK) return Status::Ok();
  return Status(ErrorCode::kDatabase,
                FailureMessage(db_.get(), code, describe_ + ": " + std::string(what)));
}

// ---- Transaction ----------------------------------------------------------------------------

Result<Transaction> Transaction::Begin(Connection& connection, Kind kind, std::string_view what) {
  const char* sql = kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
  UDMG_ASSIGN_OR_RETURN(Statement begin, connection.Prepare(sql, what));
  UDMG_RETURN_IF_ERROR(begin.Run());
  return Transaction(&connection, std::string(what));
}

Transaction::Transaction(Transaction&& other) noexcept
    : connection_(other.connection_), what_(std::move(other.what_)) {
  other.connection_ = nullptr;
}

Transaction::~Transaction() {
  // SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
  if (connection_ == nullptr || !connection_->InTransaction()) return;
  Result<Statement> rollback = connection_->Prepare("ROLLBACK", what_);
  if (rollback.ok()) (void)rollback->Run();
}

Status Transaction::Commit() {
  UDMG_ASSIGN_OR_RETURN(Statement commit, connection_->Prepare("COMMIT", what_));
  UDMG_RETURN_IF_ERROR(commit.Run());  // on failure the destructor rolls back
  connection_ = nullptr;
  return Status::Ok();
}

Status InTransaction(Connection& connection, Transaction::Kind kind, std::string_view what,
                     const std::function<Status()>& body) {
  UDMG_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(connection, kind, what));
  UDMG_RETURN_IF_ERROR(body());
  return transaction.Commit();
}

}  // namespace udmg::db::sqlite
