#include "db/postgres/postgres_connection.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>

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

Kind KindOfConnectFailure(std::string_view message) {
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
      Contains(message, "in recovery") || Contains(message, "too many clients")) {
    return Kind::kStartingUp;
  }
  return Kind::kUnreachable;
}

std::string ConnectFailureMessage(const std::string& describe, std::string_view libpq_message) {
  std::string cause = OneLine(libpq_message, false);
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

// SQLSTATEs after which the connection is gone or the server is going away: reconnect.
bool IsConnectionLost(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
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

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Open(std::string_view url,
                                                         RetryPolicy policy) {
  std::string redacted = RedactUrl(url);
  try {
    std::unique_ptr<pqxx::connection> live = Connect(std::string(url));
    std::string describe = "postgresql://" + std::string(live->username()) + "@" +
                           live->hostname() + ":" + live->port() + "/" + live->dbname();
    return std::unique_ptr<PgConnection>(
        new PgConnection(std::string(url), std::move(describe), std::move(live), policy));
  } catch (const pqxx::broken_connection& e) {
    return Error{ErrorCode::kDatabase, ConnectFailureMessage(redacted, e.what())};
  } catch (const std::exception& e) {
    // libpq rejects a malformed URL ("invalid URI query parameter") without connecting.
    return Error{ErrorCode::kDatabase, "cannot use " + redacted + " (" + OneLine(e.what(), false) +
                                           "); check the URL (postgresql://USER@HOST:PORT/DBNAME)"};
  }
}

std::unique_ptr<pqxx::connection> PgConnection::Connect(const std::string& url) {
  auto live = std::make_unique<pqxx::connection>(WithApplicationName(url));
  pqxx::nontransaction(*live).exec("SET client_min_messages TO warning");
  return live;
}

void PgConnection::Discard() {
  prepared_.clear();
  session_objects_.clear();
  live_.reset();
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
      live_ = Connect(url_);
      ++reconnects_;
    } catch (const pqxx::broken_connection& e) {
      result = Status(ErrorCode::kDatabase, ConnectFailureMessage(describe_, e.what()));
      Kind kind = KindOfConnectFailure(e.what());
      return kind == Kind::kUnreachable || kind == Kind::kStartingUp ? Outcome::kRetry
                                                                     : Outcome::kDone;
    } catch (const std::exception& e) {
      result = Status(ErrorCode::kDatabase, context + "reconnecting: " + OneLine(e.what(), true));
      return Outcome::kDone;
    }
  }
  try {
    result = body(*live_);
    return Outcome::kDone;
  } catch (const pqxx::in_doubt_error&) {
    Discard();
    result = Status(ErrorCode::kDatabase,
                    context + "the connection dropped during COMMIT, so the change may or may not "
                              "have been saved; check it and run the command again");
    return retry == Retry::kIdempotent ? Outcome::kRetry : Outcome::kDone;
  } catch (const pqxx::statement_completion_unknown&) {
    Discard();
    result = Status(ErrorCode::kDatabase,
                    context + "the connection dropped before the server answered, so the change "
                              "may or may not have been saved; check it and run the command again");
    return retry == Retry::kIdempotent ? Outcome::kRetry : Outcome::kDone;
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
// connection unexpectedly"); the connection is then no longer open, and whether the statement
// ran is unknown: retried only when the operation is idempotent.
bool PgConnection::ConnectionClosedMidStatement(const std::string& context,
                                                const std::exception& e, Retry retry,
                                                Status& result, Outcome& outcome) {
  if (live_ == nullptr || live_->is_open()) return false;
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
