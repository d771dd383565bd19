// Steps and checks shared by the end-to-end tests of udmg-server, on top of cli_runner.h. They use
// GoogleTest assertions (ADD_FAILURE / EXPECT_*) and return what the next step needs.
//
// Thread-safety: as cli_runner.h; each function is called from the test's thread.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/db/postgres_test_database.h"
#include "tests/e2e/cli_runner.h"

namespace udmg::testing {

// The exit codes of udmg-server (udmg::ErrorCode, docs/exit-codes.md), restated here on purpose:
// the end-to-end tests check the documented contract, not the implementation's header.
enum Exit : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitUsage = 2,
  kExitBadKey = 3,
  kExitWrongKey = 4,
  kExitCorrupt = 5,
  kExitNotFound = 6,
  kExitConflict = 7,
  kExitDatabase = 8,
  kExitNotInitialized = 9,
  kExitIncomplete = 10,
  kExitBadInput = 11,
  kExitOutputLost = 14,
  kExitAuditBroken = 15,
};

// The fixture of a test run on every backend (TEST_P with UDMG_INSTANTIATE_FOR_ALL_BACKENDS): a
// server in a directory of its own, on a database of the backend's that nothing has initialized.
class ServerTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  TempDir dir_;
  UdmgServer server_{dir_.path()};
};

// Instantiates `fixture` (a TEST_P over StoreBackend) on PostgreSQL alone, for what SQLite does not
// have (a standby, a server to restart, replication lag); it skips without a PostgreSQL server.
#define UDMG_INSTANTIATE_FOR_POSTGRES_ONLY(fixture)                                       \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture,                                             \
                           ::testing::Values(::udmg::db::testing::StoreBackend{           \
                               "postgresql", ::udmg::db::testing::MakePostgresDatabase}), \
                           ::udmg::db::testing::BackendName)

// Whether `part` occurs in `text` (an output, a message), for EXPECT_TRUE(...) << text.
bool Contains(const std::string& text, const std::string& part);

// The lines of two database dumps that differ ("- line" only before, "+ line" only after), for a
// readable assertion message; "" when the dumps are equal.
std::string DumpDifference(const std::string& before, const std::string& after);

// Expects the database dump to equal `before`, showing only the differing lines otherwise.
void ExpectDumpUnchanged(const UdmgServer& server, const std::string& before,
                         const std::string& what);

// Runs `args` and expects exit 0; the result is returned either way.
ProcessResult RunOk(const UdmgServer& server, std::vector<std::string> args,
                    std::string stdin_data = "");

// Sets a fresh random K0 on `server`, runs `init`, then `demo --rows rows` when rows > 0.
// Returns false (with a test failure recorded) when a step fails.
bool InitDemo(UdmgServer& server, int rows);

// InitDemo, then `rotate-master-key`: every demo value is stale, waiting for `reencrypt`.
// Returns false (with a test failure recorded) when a step fails.
bool InitDemoAndRotate(UdmgServer& server, int rows);

// `status --json`, parsed; nullopt (with a failure recorded) when it fails or is not JSON.
std::optional<nlohmann::json> StatusJson(const UdmgServer& server);

// Values of the demo column credentials.secret on master `version` (`status --json`); -1 (with a
// failure recorded) when status fails.
int DemoValuesOnVersion(const UdmgServer& server, int version);

// `reencrypt --control status` of the job running on `server`'s database, parsed; nullopt while
// no job answers (not started yet, or ended).
std::optional<nlohmann::json> JobControlStatus(const UdmgServer& server);

// The value of udmg_reencrypt_throttled_seconds_total{reason="<reason>"} in a metrics textfile;
// -1 when the series is missing.
double ThrottledSecondsIn(const std::string& textfile_contents, const std::string& reason);

// The count of values on each master version of `table.column` in a status document.
std::map<int, int> ValuesByVersion(const nlohmann::json& status, const std::string& table,
                                   const std::string& column);

// Expects the documented error shape: exit `code`, exactly one line on stderr that starts with
// "udmg-server: error: " and has more than that prefix.
void ExpectOneErrorLine(const ProcessResult& result, int code);
// The same, and that the error line contains each of `parts`.
void ExpectOneErrorLine(const ProcessResult& result, int code,
                        const std::vector<std::string>& parts);

// Expects that none of `keys_hex` appears (case-insensitively) in stdout or stderr.
void ExpectNoKeyIn(const ProcessResult& result, const std::vector<std::string>& keys_hex);

// The K0 fingerprint of docs/formats.md, computed here independently of the binary: lowercase hex of
// the first 16 bytes of HMAC-SHA256(key = K0, message = "udmg-k0-fingerprint").
std::string FingerprintOf(const std::string& key_hex);

// Runs tests/e2e/udmg_interop.py (the independent Python implementation) with `args`.
ProcessResult RunInterop(std::vector<std::string> args);

// `udmg_interop.py inspect` on the server's database with its current K0 (and `old_keys` that must
// be historical root versions); the parsed JSON, or nullopt with a failure recorded.
std::optional<nlohmann::json> InspectWithPython(const UdmgServer& server,
                                                const std::vector<std::string>& old_keys = {});

// Expects every credentials.secret value id = 1..rows to decrypt (in Python) to
// "demo-secret-<id>", and returns the count of values per master version.
std::map<int, int> ExpectDemoPlaintexts(const nlohmann::json& inspected, int rows);

// Expects exactly `rows` credentials.secret values, every one under the active master version and
// decrypting (in Python) to "demo-secret-<id>"; the first few wrong rows are shown.
void ExpectDemoValuesMigrated(const UdmgServer& server, int rows);

// Another process holding the write lock of a SQLite database until the object is destroyed:
// commands that write wait for it (busy timeout) and fail with exit 8 past it.
class SqliteWriteLock {
 public:
  // Returns once the lock is held; fails the test (ADD_FAILURE) if it cannot be taken.
  explicit SqliteWriteLock(const std::filesystem::path& database);
  ~SqliteWriteLock();  // releases the lock and waits for the holder to end
  SqliteWriteLock(const SqliteWriteLock&) = delete;
  SqliteWriteLock& operator=(const SqliteWriteLock&) = delete;

 private:
  TempDir dir_;                                  // holds the file whose removal releases the lock
  std::unique_ptr<BackgroundProcess> holder_;
};

// The name of the unprivileged user that tests running as root run udmg-server as
// (scripts/setup.sh creates it).
inline constexpr char kUnprivilegedTestUser[] = "udmg-test";

// A PostgreSQL `url` with its user replaced by `user` (no password: give the role's in PGPASSWORD).
std::string UrlWithUser(const std::string& url, const std::string& user);

// `invocation` run as an unprivileged user: through setpriv as kUnprivilegedTestUser when the
// test runs as root (a test failure when that user is missing), unchanged otherwise. Its
// working directory and files must be reachable by that user.
Invocation AsUnprivilegedUser(Invocation invocation);

}  // namespace udmg::testing
