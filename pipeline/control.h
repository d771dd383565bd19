// Live control of a running job: status, pause, resume, rate, batch-size.
//
// Two layers, so that the HTTP listener can carry the same commands:
//  - ControlCommands: parses one command line and runs it against a Throttle (and a
//    ProgressTracker for status); returns one JSON reply line. No I/O.
//  - ControlServer / SendControlCommand: the transport, a Unix domain socket (mode 0600, owner's
//    uid only, removed when the server stops), one command per line, one JSON line per reply.
//
// Protocol (a bare command shows the current value and never changes it):
//   status            {"ok":true,"state":"running","done":..,"total":..,"rows_per_second":..,
//                      "eta_seconds":..|null,"throttled_seconds":{"rate":..,"latency":..,
//                      "paused":..,"pause_file":..,"replica_lag":..},"rate":..,"batch_size":..,
//                      "adaptive":..}
//                     state: running, paused (manual), latency_paused, or the gate holding the
//                     job back (pause_file, replica_lag) with "hold":"<why, one line>"
//   pause / resume    {"ok":true,"paused":true|false}
//   rate              {"ok":true,"rate":500}          (0 = unlimited)
//   rate=500          {"ok":true,"rate":500,"previous":0}
//   batch-size        {"ok":true,"batch_size":2000,"adaptive":false}
//   batch-size=2000   {"ok":true,"batch_size":2000,"adaptive":false,"previous":1000}
//   anything else     {"ok":false,"error":"<one line: what is wrong and what to send>"}
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/status.h"
#include "pipeline/progress.h"
#include "pipeline/throttle.h"

namespace udmg::pipeline {

enum class ControlVerb { kStatus, kPause, kResume, kRate, kBatchSize };

struct ControlCommand {
  ControlVerb verb = ControlVerb::kStatus;
  std::optional<double> rate;         // rate=N
  std::optional<size_t> batch_size;   // batch-size=N
};

// Pure parsing. Surrounding whitespace and spaces around '=' are ignored; verbs are lower case.
// kBadInput with a one-line message for an unknown verb, a value where none is taken, or a bad
// number (rate: a finite number >= 0; batch-size: an integer 1..kMaxBatchSize).
Result<ControlCommand> ParseControlCommand(std::string_view line);

// Thread-safety: Execute may be called from any thread (Throttle and ProgressTracker are
// thread-safe). `throttle` and `progress` must outlive it; `progress` may be null.
class ControlCommands {
 public:
  ControlCommands(Throttle& throttle, const ProgressTracker* progress);
  // One JSON object on one line (no newline at the end).
  std::string Execute(std::string_view line);

 private:
  Throttle& throttle_;
  const ProgressTracker* progress_;
};

// Unix domain sockets hold paths of at most this many bytes (sun_path, with its NUL).
inline constexpr size_t kMaxSocketPathLength = 107;

// Where a job on `database_url` listens when --control-socket is not given:
//  - sqlite:PATH -> "<absolute PATH>.control" when that fits in a socket address;
//  - otherwise $XDG_RUNTIME_DIR/udmg-control-<hash>.sock, or /tmp/udmg-<uid>/control-<hash>.sock
//    (<hash> names the database, so jobs on different databases do not collide).
std::string DefaultControlSocketPath(std::string_view database_url);

// Serves ControlCommands on a Unix socket on its own thread.
// Thread-safety: Start/Stop/destructor from one controlling thread.
class ControlServer {
 public:
  // Binds `path` with mode 0600 from the start (the socket inode is chmod-ed before bind, so the
  // file is never reachable with wider permissions). A stale socket left by a crashed job is replaced; a
  // path where another job answers fails with kConflict; other failures kBadInput/kInternal, one
  // line naming the path. A missing parent directory under /tmp/udmg-<uid> is created 0700.
  // `commands` must outlive the server.
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& path,
                                                      ControlCommands& commands);
  ~ControlServer();  // Stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops accepting, joins the thread and removes the socket file. Idempotent.
  void Stop();
  const std::string& path() const { return path_; }
  uint64_t commands_served() const { return served_.load(); }

 private:
  ControlServer(std::string path, int listen_fd, int wake_read_fd, int wake_write_fd,
                ControlCommands& commands);
  void Serve();
  void ServeConnection(int fd);

  const std::string path_;
  const int listen_fd_;
  const int wake_read_fd_;   // the thread polls it: a byte written means "stop"
  const int wake_write_fd_;
  ControlCommands& commands_;
  std::atomic<uint64_t> served_{0};
  std::thread thread_;
  bool stopped_ = false;
};

// Client (for `udmg-server reencrypt --control 'rate=500'`): sends one command, returns the reply
// line when it says "ok":true. kNotFound when nothing listens at `path` (no job running there);
// kBadInput carrying the server's error when it refused the command; kInternal on I/O failure or
// after `timeout` without a reply.
Result<std::string> SendControlCommand(const std::string& path, std::string_view command,
                                       Duration timeout = std::chrono::seconds(5));

}  // namespace udmg::pipeline
