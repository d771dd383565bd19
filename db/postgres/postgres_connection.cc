#include "db/postgres/postgres_connection.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <thread>

#include "base/mutex.h"
#include "db/statement_cancel.h"

namespace udmg::db::postgres {
namespace {

// What kind of failure a message or SQLSTATE reports, for the message and the retry decision.
enum class Kind { kUnreachable, kStartingUp, kCredentials, kNoDatabase, kBadUrl };

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// libpq and server messages span lines ("ERROR:  x\nLINE 1: ..."; "failed: refused\n\tIs the
// server running...?"): one line, whitespace collapsed, the "ERROR:" tag dropped.
std::string OneLine(std::string_view message, bool first_line_only) {
  if (first_line_only) message = message.substr(0, message.find('\n'));
  for (std::string_view tag : {"ERROR:", "FATAL:"}) {
    if (message.substr(0, tag.size()) == tag) message.remove_prefix(tag.size());
  }
  std::string line;
  bool space = false;
  for (char c : message) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !line.empty();
      continue;
    }
    if (space) line += ' ';
    space = false;
    line += c;
  }
  return line;
}

// A limit on sessions (the server's max_connections, a role's or a database's CONNECTION LIMIT):
// sessions end, so it is retried like a server starting up.
bool SaysNoFreeSession(std::string_view message) {
  return Contains(message, "too many clients") || Contains(message, "remaining connection slots") ||
         Contains(message, "too many connections for");
}

Kind KindOfConnectFailure(std::string_view message) {
  if (SaysNoFreeSession(message)) return Kind::kStartingUp;
  if (Contains(message, "password authentication failed") ||
      Contains(message, "authentication failed") || Contains(message, "no pg_hba.conf entry") ||
      Contains(message, "no password supplied") || Contains(message, "role \"")) {
    return Kind::kCredentials;
  }
  if (Contains(message, "invalid URI") || Contains(message, "invalid connection option") ||
      Contains(message, "invalid integer value") || Contains(message, "missing \"=\"") ||
      Contains(message, "invalid sslmode")) {
    return Kind::kBadUrl;
  }
  if (Contains(message, "database \"") && Contains(message, "does not exist")) {
    return Kind::kNoDatabase;
  }
  if (Contains(message, "starting up") || Contains(message, "shutting down") ||
      Contains(message, "in recovery")) {
    return Kind::kStartingUp;
  }
  return Kind::kUnreachable;
}

std::string ConnectFailureMessage(const std::string& describe, std::string_view libpq_message) {
  std::string cause = OneLine(libpq_message, false);
  // Causes that are neither a server down nor a bad login: each names its own fix.
  if (Contains(libpq_message, "could not translate host name")) {
    return "cannot reach the PostgreSQL server of " + describe + " (" + cause +
           "); check the host name in the URL";
  }
  if (Contains(libpq_message, "does not support SSL")) {
    return "cannot use " + describe + " (" + cause +
           "); the URL's sslmode asks for SSL: enable SSL on the server or check the URL";
  }
  if (Contains(libpq_message, "too many connections for")) {
    return "PostgreSQL has no free session for " + describe + " (" + cause +
           "): the role's or the database's CONNECTION LIMIT is reached; retry when some of its "
           "sessions end, or raise the limit (ALTER ROLE or ALTER DATABASE ... CONNECTION LIMIT)";
  }
  if (SaysNoFreeSession(libpq_message)) {
    return "the PostgreSQL server of " + describe + " has no free connection (" + cause +
           "); retry when some of its sessions end, or raise max_connections";
  }
  switch (KindOfConnectFailure(libpq_message)) {
    case Kind::kCredentials:
      return "PostgreSQL refused the login to " + describe + " (" + cause +
             "); check the user name and the password (PGPASSWORD or ~/.pgpass)";
    case Kind::kNoDatabase:
      return "cannot use " + describe + " (" + cause + "); create the database or fix its name";
    case Kind::kBadUrl:
      return "cannot use " + describe + " (" + cause +
             "); check the URL (postgresql://USER@HOST:PORT/DBNAME)";
    case Kind::kStartingUp:
      return "the PostgreSQL server of " + describe + " is not accepting connections (" + cause +
             "); retry when it is up";
    default:
      return "cannot reach the PostgreSQL server of " + describe + " (" + cause +
             "); check that it is running and the host and port in the URL";
  }
}

// "cached plan must not change result type" (0A000): a prepared statement whose table changed.
bool IsStalePreparedPlan(const pqxx::sql_error& e) {
  return e.sqlstate() == "0A000" && Contains(e.what(), "cached plan must not change result type");
}

// SQLSTATEs after which the connection is gone or the server is going away: reconnect.
bool IsConnectionLost(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

// libpq's own words for a socket that closed or failed under a statement (no SQLSTATE).
bool SaysTheConnectionIsGone(std::string_view message) {
  for (std::string_view words :
       {"server closed the connection unexpectedly", "no connection to the server",
        "could not receive data from server", "could not send data to server",
        "SSL connection has been closed unexpectedly", "SSL SYSCALL error"}) {
    if (Contains(message, words)) return true;
  }
  return false;
}

// The URL with libpq's fallback_application_name=udmg-server, so that an operator (or a test)
// finds our sessions in pg_stat_activity; an application_name the URL sets still wins.
std::string WithApplicationName(const std::string& url) {
  constexpr std::string_view kParameter = "fallback_application_name=udmg-server";
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    std::string_view separator = url.find('?') == std::string::npos ? "?"
                                 : url.back() == '?' || url.back() == '&' ? ""
                                                                          : "&";
    return url + std::string(separator) + std::string(kParameter);
  }
  return url + " " + std::string(kParameter);  // keyword=value form
}

// Puts the tool's schema first in the session's search_path, so that every udmg_ table is the
// one of this database's keyring whatever path the URL or the role sets; returns the session's
// own schemas (a text[] literal) for resolving the operator's table names. The tool's schema:
//  1. udmg.schema when set (options=-cudmg.schema%3DNAME, or ALTER ROLE ... SET udmg.schema);
//  2. else the first schema of the search_path that holds udmg_schema_migrations;
//  3. else the one schema of the database that holds it (a role whose search_path leaves it
//     out must not make a second keyring elsewhere);
//  4. else, when none does, the schema the search_path creates in (a new database).
// Several holders and none of them chosen by 1 or 2: ToolSchemaError.
std::string PinToolSchema(pqxx::connection& live) {
  pqxx::nontransaction session(live);
  pqxx::row found = session.exec1(
      "WITH holders AS (SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
      "ON n.oid = c.relnamespace WHERE c.relname = 'udmg_schema_migrations' AND c.relkind = 'r') "
      "SELECT nullif(current_setting('udmg.schema', true), ''), "
      "(SELECT p.s FROM unnest(current_schemas(false)) WITH ORDINALITY AS p(s, i) "
      " WHERE p.s IN (SELECT nspname FROM holders) ORDER BY p.i LIMIT 1), "
      "(SELECT string_agg(quote_ident(nspname), ', ' ORDER BY nspname) FROM holders), "
      "(SELECT count(*) FROM holders), current_schema(), current_schemas(false)::text, "
      "current_setting('search_path'), (SELECT min(nspname) FROM holders)");
  std::optional<std::string> schema;
  if (!found[0].is_null()) {
    schema = found[0].as<std::string>();
  } else if (!found[1].is_null()) {
    schema = found[1].as<std::string>();
  } else if (found[3].as<int64_t>() == 1) {
    schema = found[7].as<std::string>();
  } else if (found[3].as<int64_t>() > 1) {
    throw ToolSchemaError(
        "udmg_ tables are in several schemas (" + found[2].as<std::string>() +
        ") and the search_path (" + found[6].as<std::string>() +
        ") leads to none of them; name the one to use: options=-cudmg.schema%3DNAME in the URL, "
        "or ALTER ROLE ... SET udmg.schema = 'NAME'");
  } else if (!found[4].is_null()) {
    schema = found[4].as<std::string>();
  }
  std::string user_schemas = found[5].as<std::string>();
  if (schema) {
    session.exec_params(
        "SELECT set_config('search_path', quote_ident($1) || coalesce(', ' || "
        "nullif(current_setting('search_path'), ''), ''), false)",
        *schema);
  }
  return user_schemas;
}

// The statements running now in this process, for CancelStatementsRunningFor from another
// thread: one entry per connection while its body runs.
struct RunningEntry {
  pqxx::connection* live = nullptr;
  std::chrono::steady_clock::time_point since;
  int backend_pid = 0;
  bool cancelled = false;
};
base::Mutex g_running_mutex;
std::map<const void*, RunningEntry> g_running GUARDED_BY(g_running_mutex);

// Registers a connection's statements for as long as its operation's body runs; on the way out
// (before any handler may drop the connection) it tells whether they were cancelled.
class RunningStatement {
 public:
  RunningStatement(const void* owner, pqxx::connection* live, bool& cancelled)
      : owner_(owner), cancelled_(cancelled) {
    base::MutexLock lock(g_running_mutex);
    g_running[owner] = {live, std::chrono::steady_clock::now(), live->backendpid(), false};
  }
  ~RunningStatement() {
    base::MutexLock lock(g_running_mutex);
    auto it = g_running.find(owner_);
    cancelled_ = it != g_running.end() && it->second.cancelled;
    g_running.erase(owner_);
  }
  RunningStatement(const RunningStatement&) = delete;
  RunningStatement& operator=(const RunningStatement&) = delete;

 private:
  const void* owner_;
  bool& cancelled_;
};

}  // namespace
}  // namespace udmg::db::postgres

namespace udmg::db {

void CancelStatementsRunningFor(std::chrono::milliseconds min_running) {
  auto now = std::chrono::steady_clock::now();
  base::MutexLock lock(postgres::g_running_mutex);
  for (auto& [owner, entry] : postgres::g_running) {
    if (entry.cancelled || now - entry.since < min_running) continue;
    entry.cancelled = true;
    try {
      entry.live->cancel_query();
    } catch (const std::exception&) {
      // The statement ended meanwhile, or the connection broke: nothing left to cancel.
    }
  }
}

std::optional<RunningStatementInfo> LongestRunningStatement() {
  auto now = std::chrono::steady_clock::now();
  base::MutexLock lock(postgres::g_running_mutex);
  std::optional<RunningStatementInfo> longest;
  for (const auto& [owner, entry] : postgres::g_running) {
    if (!longest || now - entry.since > longest->running_for) {
      longest = RunningStatementInfo{now - entry.since, entry.backend_pid};
    }
  }
  return longest;
}

}  // namespace udmg::db

namespace udmg::db::postgres {

Result<std::unique_ptr<PgConnection>> PgConnection::Open(std::string_view url,
                                                         RetryPolicy policy) {
  std::string redacted = RedactUrl(url);
  try {
    Session session;
    std::unique_ptr<pqxx::connection> live = Connect(std::string(url), session);
    std::string describe = "postgresql://" + std::string(live->username()) + "@" +
                           live->hostname() + ":" + live->port() + "/" + live->dbname();
    return std::unique_ptr<PgConnection>(new PgConnection(
        std::string(url), std::move(describe), std::move(live), policy, std::move(session)));
  } catch (const ToolSchemaError& e) {
    return Error{ErrorCode::kDatabase, "cannot use " + redacted + ": " + e.what()};
  } catch (const pqxx::broken_connection& e) {
    return Error{ErrorCode::kDatabase,
                 ConnectFailureMessage(redacted, RedactPasswords(e.what(), url))};
  } catch (const std::exception& e) {
    // libpq rejects a malformed URL ("invalid URI query parameter") without connecting.
    return Error{ErrorCode::kDatabase, "cannot use " + redacted + " (" +
                                           OneLine(RedactPasswords(e.what(), url), false) +
                                           "); check the URL (postgresql://USER@HOST:PORT/DBNAME)"};
  }
}

std::unique_ptr<pqxx::connection> PgConnection::Connect(const std::string& url,
                                                        Session& session) {
  auto live = std::make_unique<pqxx::connection>(WithApplicationName(url));
  // Read-only-ness once per session: a hot standby stays one for the session (a promotion drops
  // no connection but only lets later sessions write), and default_transaction_read_only can
  // only change by a SET the tool never sends.
  pqxx::row access = pqxx::nontransaction(*live).exec1(
      "SELECT set_config('client_min_messages', 'warning', false), "
      "current_setting('transaction_read_only') = 'on', pg_is_in_recovery()");
  session.access = SessionAccess{access[1].as<bool>(), access[2].as<bool>()};
  session.user_schemas = PinToolSchema(*live);
  return live;
}

std::string PgConnection::ReadOnlyMessage(const std::string& context) const {
  std::string cause = access_.standby
                          ? "the database is read-only: a hot standby"
                          : "the database is read-only: default_transaction_read_only is on for "
                            "this session (the URL's options, the role or the database)";
  return context + cause + "; run this against the primary";
}

void PgConnection::Discard() {
  prepared_.clear();
  session_objects_.clear();
  live_.reset();
}

PgConnection::Outcome PgConnection::ChangeMayBeLost(const std::string& what_happened, Retry retry,
                                                    Status& result) {
  Discard();
  result = Status(ErrorCode::kDatabase, what_happened +
                                            ", so the change may or may not have been saved; "
                                            "check it and run the command again");
  return retry == Retry::kIdempotent ? Outcome::kRetry : Outcome::kDone;
}

std::string PgConnection::Prepared(const std::string& sql) {
  if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
  std::string name = "udmg_" + std::to_string(prepared_.size() + 1);
  live_->prepare(name, sql);
  prepared_.emplace(sql, name);
  return name;
}

int PgConnection::BackendPid() { return live_ ? live_->backendpid() : 0; }

PgConnection::Outcome PgConnection::Attempt(std::string_view what, Retry retry,
                                            const std::function<Status(pqxx::connection&)>& body,
                                            Status& result) {
  Outcome outcome = Outcome::kDone;
  std::string context = describe_ + ": " + std::string(what) + " failed: ";
  if (live_ == nullptr) {
    try {
      Session session;
      live_ = Connect(url_, session);
      user_schemas_ = std::move(session.user_schemas);
      access_ = session.access;
      ++reconnects_;
    } catch (const ToolSchemaError& e) {
      result = Status(ErrorCode::kDatabase, context + "reconnecting: " + e.what());
      return Outcome::kDone;
    } catch (const pqxx::broken_connection& e) {
      result = Status(ErrorCode::kDatabase,
                      ConnectFailureMessage(describe_, RedactPasswords(e.what(), url_)));
      Kind kind = KindOfConnectFailure(e.what());
      return kind == Kind::kUnreachable || kind == Kind::kStartingUp ? Outcome::kRetry
                                                                     : Outcome::kDone;
    } catch (const std::exception& e) {
      result = Status(ErrorCode::kDatabase,
                      context + "reconnecting: " + OneLine(RedactPasswords(e.what(), url_), true));
      return Outcome::kDone;
    }
  }
  bool cancelled = false;  // by CancelStatementsRunningFor: the job was asked to stop
  try {
    RunningStatement running(this, live_.get(), cancelled);
    result = body(*live_);
    return Outcome::kDone;
  } catch (const pqxx::in_doubt_error&) {
    return ChangeMayBeLost(context + "the connection dropped during COMMIT", retry, result);
  } catch (const pqxx::statement_completion_unknown&) {
    return ChangeMayBeLost(context + "the connection dropped before the server answered", retry,
                           result);
  } catch (const pqxx::broken_connection& e) {
    // Dropped before COMMIT: the server rolled the transaction back, so any operation can rerun.
    Discard();
    result = Status(ErrorCode::kDatabase, context + "the connection dropped (" +
                                              OneLine(e.what(), true) + "); retry when the "
                                                                        "server is back");
    return Outcome::kRetry;
  } catch (const pqxx::transaction_rollback& e) {
    // Serialization failure or deadlock: nothing was written, the connection is fine.
    result = Status(ErrorCode::kDatabase, context + OneLine(e.what(), true) + "; run it again");
    return Outcome::kRetry;
  } catch (const pqxx::insufficient_privilege& e) {
    result = Status(ErrorCode::kDatabase, context + "the database role lacks a privilege (" +
                                              OneLine(e.what(), true) +
                                              "); grant it to the role or use a role that has it");
    return Outcome::kDone;
  } catch (const pqxx::sql_error& e) {
    if (cancelled && e.sqlstate() == "57014") {
      result = Status(ErrorCode::kIncomplete,
                      context + "stopped while waiting for the database (the statement was "
                                "cancelled: a signal, the stop file or the run time)");
      return Outcome::kDone;
    }
    if (e.sqlstate() == "25006") {  // read_only_sql_transaction: nothing was written
      result = Status(ErrorCode::kDatabase, ReadOnlyMessage(context));
      return Outcome::kDone;
    }
    if (IsStalePreparedPlan(e)) {
      // The table changed under a statement prepared on this connection (ALTER COLUMN TYPE): a new
      // session prepares every statement again. Nothing ran, so any operation can run again.
      Discard();
      result = Status(ErrorCode::kDatabase, context + OneLine(e.what(), true));
      return Outcome::kRetry;
    }
    if (IsConnectionLost(e.sqlstate())) {
      Discard();
      result = Status(ErrorCode::kDatabase, context + "the server closed the connection (" +
                                                OneLine(e.what(), true) + "); retry later");
      return Outcome::kRetry;
    }
    if (ConnectionClosedMidStatement(context, e, retry, result, outcome)) return outcome;
    std::string hint;
    if (e.sqlstate() == "3F000") hint = "; set a search_path that names an existing schema";
    result = Status(ErrorCode::kDatabase, context + OneLine(e.what(), true) + hint);
    return Outcome::kDone;
  } catch (const pqxx::usage_error& e) {
    result = Status(ErrorCode::kInternal, context + OneLine(e.what(), true));
    return Outcome::kDone;
  } catch (const std::exception& e) {
    if (ConnectionClosedMidStatement(context, e, retry, result, outcome)) return outcome;
    result = Status(ErrorCode::kDatabase, context + OneLine(e.what(), true));
    return Outcome::kDone;
  }
}

// libpq may report a socket closed mid-statement without a SQLSTATE ("server closed the
// connection unexpectedly"), and libpqxx may still call such a connection open: either way it
// is replaced, and whether the statement ran is unknown: retried only when the operation is
// idempotent.
bool PgConnection::ConnectionClosedMidStatement(const std::string& context,
                                                const std::exception& e, Retry retry,
                                                Status& result, Outcome& outcome) {
  if (live_ == nullptr) return false;
  if (live_->is_open() && !SaysTheConnectionIsGone(e.what())) return false;
  Discard();
  result = Status(ErrorCode::kDatabase,
                  context + "the server closed the connection (" + OneLine(e.what(), true) +
                      "), so the change may or may not have been saved; check it and run the "
                      "command again");
  outcome = retry == Retry::kIdempotent ? Outcome::kRetry : Outcome::kDone;
  return true;
}

Status PgConnection::RunStatus(std::string_view what, Retry retry,
                               const std::function<Status(pqxx::connection&)>& body) {
  std::chrono::milliseconds backoff = policy_.first_backoff;
  Status result;
  for (int attempt = 1;; ++attempt) {
    if (Attempt(what, retry, body, result) == Outcome::kDone) return result;
    if (attempt >= policy_.max_attempts) {
      return Status(result.code(), result.message() + " (gave up after " +
                                       std::to_string(attempt) + " attempts)");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, policy_.max_backoff);
  }
}

}  // namespace udmg::db::postgres
