// Status and Result<T>: expected failures as [[nodiscard]] values (LevelDB Status, Tink StatusOr).
// Exceptions stop at the edges (pqxx in db/, CLI11 in cli/); everything in between returns these.
//
// Thread-safety: const methods may be called from several threads without synchronization.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace udmg {

// What went wrong, by what the operator must do about it. The numeric value is the process exit
// code of udmg-server (documented in docs/exit-codes.md): never renumber.
enum class ErrorCode : int {
  kInternal = 1,        // a bug or an unexpected OpenSSL/system failure
  kUsage = 2,           // bad command line: unknown option, missing argument
  kBadKey = 3,          // K0 missing or malformed, new key malformed or reused
  kWrongKey = 4,        // K0 is not the current root key (older or unknown version)
  kCorruptValue = 5,    // a value or token that does not decrypt; verify found failures
  kNotFound = 6,        // unknown table, column, row or key version
  kConflict = 7,        // a concurrent change won (rotation race, compare-and-swap lost)
  kDatabase = 8,        // database unreachable, SQL error, busy beyond the timeout
  kNotInitialized = 9,  // keyring missing (run init) or already initialized
  kIncomplete = 10,     // a job stopped before done (signal, budget, stop file): run it again
  kBadInput = 11,       // malformed input other than a key: envelope, file, URL, duration
  kBadPassphrase = 12,  // a backup that does not open with the passphrase given (or was altered)
  // 13 and 14 are the CLI's own exit codes (cli/exit_codes.h): never use them here.
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line, says what is wrong and what to do; never key bytes
  // The option the error is about, by the name of its field in the library's options (e.g.
  // "run_time"), or empty. The message names it in the library's words ("the run time"); a front
  // end names its own spelling from this (the CLI, its flag: docs/architecture.md).
  std::string setting;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose
  Status(ErrorCode code, std::string message, std::string setting = {})
      : error_(Error{code, std::move(message), std::move(setting)}) {}

  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  const Error& error() const { assert(error_); return *error_; }
  ErrorCode code() const { return error_ ? error_->code : ErrorCode{0}; }
  const std::string& message() const { static const std::string kEmpty; return error_ ? error_->message : kEmpty; }
  const std::string& setting() const { static const std::string kEmpty; return error_ ? error_->setting : kEmpty; }

 private:
  std::optional<Error> error_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : data_(std::move(error)) {}  // NOLINT
  Result(ErrorCode code, std::string message) : data_(Error{code, std::move(message)}) {}
  // Only from a failed Status.
  Result(const Status& status) : data_(status.error()) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Error& error() const { assert(!ok()); return std::get<Error>(data_); }
  Status status() const { return ok() ? Status() : Status(error()); }

  T& value() & { assert(ok()); return std::get<T>(data_); }
  const T& value() const& { assert(ok()); return std::get<T>(data_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> data_;
};

}  // namespace udmg

#define UDMG_CONCAT_INNER_(a, b) a##b
#define UDMG_CONCAT_(a, b) UDMG_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) failed.
#define UDMG_RETURN_IF_ERROR(expr)                      \
  do {                                                  \
    ::udmg::Status udmg_status_ = (expr);               \
    if (!udmg_status_.ok()) return udmg_status_.error(); \
  } while (0)

// `lhs` = value of `expr` (a Result<T>), or returns its error from the enclosing function.
#define UDMG_ASSIGN_OR_RETURN(lhs, expr) \
  UDMG_ASSIGN_OR_RETURN_IMPL_(UDMG_CONCAT_(udmg_result_, __LINE__), lhs, expr)
#define UDMG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.error();                \
  lhs = std::move(tmp).value()
