// Test support for end-to-end tests of udmg-server: run a program as a child process in a
// controlled environment, capture its output and exit code, start it in the background (to kill it
// or to start several at the same instant), plus canonical SQLite dumps and random keys (temp
// directories: tests/support/temp_dir.h). It knows the binary only through its command line:
// nothing here includes cli/.
//
// Environment: a child never inherits the test's environment. It gets a minimal base (PATH, LANG,
// TMPDIR and the sanitizer options, so ASan builds keep their settings) plus exactly the
// variables the caller names. A K0 or a database URL in the test's own environment never leaks in.
//
// Thread-safety: the free functions may be called from several threads; a BackgroundProcess,
// StartGate or UdmgServer object is used from one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/db/store_test_support.h"
#include "tests/support/temp_dir.h"

namespace udmg::testing {

// Where udmg-server reads its root key: the variable itself, a file the second one names, or the
// file udmg-k0 in a systemd credentials directory.
inline constexpr char kKeyEnv[] = "UDMG_SECURITY_PASSPHRASE_KEY";
inline constexpr char kKeyFileEnv[] = "UDMG_SECURITY_PASSPHRASE_KEY_FILE";
inline constexpr char kCredentialsEnv[] = "CREDENTIALS_DIRECTORY";

// What to run. `program` is a path (no PATH lookup) or, for RunTool, a bare name found on PATH.
struct Invocation {
  std::filesystem::path program;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to the minimal base environment
  std::string stdin_data;                  // the child's whole stdin (then end of file)
  std::filesystem::path working_dir;       // empty: the test's working directory
};

// How a child ended and what it printed.
struct ProcessResult {
  int exit_code = -1;       // 0..255 when it exited; -1 when killed by a signal or not started
  int term_signal = 0;      // the signal that killed it, 0 when it exited
  bool timed_out = false;   // the watchdog killed it (see kDefaultTimeout)
  std::string start_error;  // why it could not be started; empty when it ran
  std::string stdout_data;
  std::string stderr_data;

  bool Exited(int code) const { return exit_code == code; }
  // stderr split on '\n' (a trailing newline does not make an empty last line).
  std::vector<std::string> StderrLines() const;
  // One paragraph for assertion messages: exit status, stdout and stderr (truncated).
  std::string Describe() const;
};

// A hung child is killed after this long (a safety net against a hang, not a timing assertion).
inline constexpr std::chrono::seconds kDefaultTimeout{120};

// Several children blocked between fork and exec until Open(): "start at the same instant" without
// depending on how fast fork+exec is. Create it, start the processes with it, then Open() it.
class StartGate {
 public:
  StartGate();
  ~StartGate();
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  void Open();  // releases every child started with this gate; idempotent
  int read_fd() const { return read_fd_; }

 private:
  friend class BackgroundProcess;  // a held child closes its copy of the write end
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// A child running in the background. Its stdout/stderr go to files (no pipe can fill up and block
// it), read back by Wait(). The destructor kills (SIGKILL) and reaps a child still running.
class BackgroundProcess {
 public:
  // Never null; when the child cannot be started, Wait() returns a result with start_error set.
  // With a gate, the child waits for gate->Open() before exec.
  static std::unique_ptr<BackgroundProcess> Start(const Invocation& invocation,
                                                  StartGate* gate = nullptr);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The file the child's stderr goes to, to read while it runs (udmg-server is not dumpable:
  // /proc/PID/fd is root's, so a test running as another user cannot follow the descriptor).
  std::filesystem::path stderr_path() const { return capture_dir_.path() / "stderr"; }
  // Sends `signal` (e.g. SIGKILL, SIGTERM). False when the child is already reaped.
  bool Kill(int signal);
  // True while the child has not ended (a child that ended is reaped here; Wait() still returns
  // its result).
  bool Running();
  // Waits for the child to end (killing it after `timeout`) and returns its result. For
  // udmg-server, also fails the calling test (EXPECT) when stdout or stderr holds a key it was
  // given (see KeysGivenTo).
  ProcessResult Wait(std::chrono::seconds timeout = kDefaultTimeout);

 private:
  BackgroundProcess() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;  // from waitpid, once reaped_
  TempDir capture_dir_{"udmg-proc-"};  // stdin, stdout and stderr files, removed after the child
  std::string start_error_;
  std::vector<std::string> keys_given_;  // KeysGivenTo(invocation), udmg-server only
  std::string description_;              // the command, keys masked, for failure messages
};

// Every form in which udmg-server could leak a key given in `invocation`: the K0 of
// UDMG_SECURITY_PASSPHRASE_KEY, of the file UDMG_SECURITY_PASSPHRASE_KEY_FILE names or of
// $CREDENTIALS_DIRECTORY/udmg-k0, a --new-key argument, a --new-key-file's contents, a key on stdin
// for `--new-key -`. A 64-hex key gives its lowercase hex, base64url (the Fernet key) and standard
// base64 forms; another value of 32 characters or more (a malformed key) is taken as it is.
std::vector<std::string> KeysGivenTo(const Invocation& invocation);

// Runs to completion and returns the result.
ProcessResult RunProcess(const Invocation& invocation,
                         std::chrono::seconds timeout = kDefaultTimeout);
// Runs a tool found on PATH (sqlite3, python3): `invocation.program` is a bare name.
ProcessResult RunTool(Invocation invocation);

// 64 lowercase hex characters from RAND_bytes: a fresh K0.
std::string RandomKeyHex();

// `sqlite3 FILE .dump`: a canonical text dump of every table and row, to compare two states of a
// database byte for byte. Fails the calling test (ADD_FAILURE) and returns "" if sqlite3 fails.
std::string SqliteDump(const std::filesystem::path& database);
// Runs SQL with the sqlite3 CLI and returns its stdout (e.g. "SELECT ..." → one row per line,
// columns separated by '|'). Fails the calling test if sqlite3 fails.
std::string SqliteExec(const std::filesystem::path& database, const std::string& sql);

// Copies, from the PostgreSQL database at `postgres_url`, the tables udmg_root_keys,
// udmg_master_keys, udmg_encrypted_columns and every registered table into a new SQLite file
// `sqlite_path` (replaced if present), integers as integers, NULL as NULL. Fails the test on error.
void MirrorToSqlite(const std::string& postgres_url, const std::filesystem::path& sqlite_path);

// Reads a whole file (binary); "" when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);
// Writes a file (binary, truncating) with mode `perms`: 0600 by default, as a file holding a key
// must be. False on failure.
bool WriteFile(const std::filesystem::path& path, const std::string& data,
               std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                              std::filesystem::perms::owner_write);

// udmg-server bound to one database in one working directory and, optionally, one K0. The
// database is on the running test's backend (db::testing::CurrentBackend(): the parameter of a
// TEST_P over StoreBackend, SQLite otherwise): a SQLite file `udmg.db` in the working directory,
// or a PostgreSQL schema of its own on UDMG_TEST_POSTGRES_URL, dropped with the last copy of
// this object. Every Command() passes `--db <database_url()>` and, when a root key is set,
// UDMG_SECURITY_PASSPHRASE_KEY; nothing else from the test's environment.
class UdmgServer {
 public:
  // `binary` defaults to UDMG_SERVER_BINARY as given to the test target.
  explicit UdmgServer(std::filesystem::path working_dir,
                      std::filesystem::path binary = DefaultBinary());

  static std::filesystem::path DefaultBinary();

  void set_root_key(std::string hex) { root_key_ = std::move(hex); }
  void clear_root_key() { root_key_.reset(); }
  const std::string& root_key() const { return *root_key_; }
  // An extra environment variable for every command (e.g. UDMG_DATABASE_URL).
  void set_env(const std::string& name, const std::string& value) { extra_env_[name] = value; }

  bool is_sqlite() const { return postgres_ == nullptr; }
  // The SQLite file; on PostgreSQL, a SQLite copy of the keyring tables and every registered
  // table (MirrorToSqlite), made afresh at each call, for tools that read SQLite only
  // (tests/e2e/udmg_interop.py inspect).
  std::filesystem::path database() const;
  const std::filesystem::path& working_dir() const { return working_dir_; }
  std::string database_url() const;

  // `udmg-server --db sqlite:<database> <args...>` with `stdin_data` on stdin.
  Invocation Command(std::vector<std::string> args, std::string stdin_data = "") const;
  ProcessResult Run(std::vector<std::string> args, std::string stdin_data = "") const;
  std::unique_ptr<BackgroundProcess> Start(std::vector<std::string> args,
                                           StartGate* gate = nullptr) const;

  // A canonical dump of every table and row: `sqlite3 .dump`, or on PostgreSQL every column
  // definition, index and row of the test's schema in a stable order. Equal dumps: nothing changed.
  // The rows of udmg_nodes are left out: every command that opens the keyring refreshes its
  // node's row (presence bookkeeping, not stored data); so are the audit entries of refusals,
  // which a refused command appends (docs/exit-codes.md).
  std::string Dump() const;
  // Runs SQL (portable: SELECT/UPDATE/INSERT) with the sqlite3 CLI or psql and returns its stdout:
  // one row per line, columns separated by '|', NULL as an empty field. Fails the test on error.
  std::string Exec(const std::string& sql) const;

 private:
  std::filesystem::path binary_;
  std::filesystem::path working_dir_;
  std::filesystem::path database_;  // the SQLite file (or the PostgreSQL mirror's path)
  std::shared_ptr<db::testing::TestDatabase> postgres_;  // null on SQLite
  std::optional<std::string> root_key_;
  std::map<std::string, std::string> extra_env_;
};

}  // namespace udmg::testing
