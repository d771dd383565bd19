#include "pipeline/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace udmg::pipeline {
namespace {

using nlohmann::json;

constexpr std::string_view kUsageHint =
    "send status, pause, resume, rate, rate=N, batch-size or batch-size=N";
// One command line is short; anything longer is not a command.
constexpr size_t kMaxLineLength = 1024;
// A client that connects and then says nothing is dropped after this long.
constexpr int kIdleTimeoutMs = 2000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Printable form of a bad command for an error message (bounded, control characters escaped).
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 40)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (s.size() > 40) out += "...";
  return out + "'";
}

Result<double> ParseRate(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value) || value < 0) {
    return Error{ErrorCode::kBadInput, "bad rate " + Quote(text) +
                                           ": give rows per second, a number >= 0 (0 = unlimited)"};
  }
  return value;
}

Result<size_t> ParseBatchSize(std::string_view text) {
  size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > kMaxBatchSize) {
    return Error{ErrorCode::kBadInput, "bad batch-size " + Quote(text) +
                                           ": give a whole number of rows from 1 to " +
                                           std::to_string(kMaxBatchSize)};
  }
  return value;
}

std::string ErrorReply(std::string_view message) {
  return json{{"ok", false}, {"error", message}}.dump();
}

uint64_t Fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool FillAddress(const std::string& path, sockaddr_un& address) {
  if (path.empty() || path.size() > kMaxSocketPathLength) return false;
  std::memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return true;
}

// The default directory /tmp/udmg-<uid> is shared ground: make it 0700 and ours, or refuse.
Status EnsurePrivateRuntimeDir(const std::string& socket_path) {
  std::string dir = std::filesystem::path(socket_path).parent_path().string();
  std::string expected = "/tmp/udmg-" + std::to_string(geteuid());
  if (dir != expected) return Status::Ok();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status(ErrorCode::kInternal, Errno(("cannot create " + dir).c_str()));
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    return Status(ErrorCode::kConflict,
                  dir + " is not a private directory of this user: remove it or set the control "
                        "socket path",
                  "control_socket");
  }
  return Status::Ok();
}

// True when a server answers at `path` (connect succeeds).
bool SomeoneListens(const sockaddr_un& address) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool listening = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return listening;
}

// Binds with mode 0600 from the start: on Linux a socket file takes the mode of the socket's
// inode (fchmod before bind), less the umask, so it is never reachable with wider permissions.
Status BindPrivate(int fd, const std::string& path, const sockaddr_un& address) {
  if (fchmod(fd, 0600) != 0) return Status(ErrorCode::kInternal, Errno("fchmod on the control socket"));
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      chmod(path.c_str(), 0600);  // belt and braces; the mode is already 0600 or narrower
      return Status::Ok();
    }
    if (errno != EADDRINUSE || attempt > 0) break;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      return Status(ErrorCode::kConflict,
                    path + " exists and is not a socket: remove it or set the control socket path",
                    "control_socket");
    }
    if (SomeoneListens(address)) {
      return Status(ErrorCode::kConflict,
                    "another job is already listening on " + path +
                        ": stop it first or set the control socket path",
                    "control_socket");
    }
    unlink(path.c_str());  // stale: left by a job that was killed
  }
  return Status(ErrorCode::kBadInput,
                Errno(("cannot create the control socket " + path +
                       " (set the control socket path in a writable directory)").c_str()),
                "control_socket");
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

// ---- Commands --------------------------------------------------------------------------------

Result<ControlCommand> ParseControlCommand(std::string_view line) {
  line = Trim(line);
  std::string_view verb = line;
  std::optional<std::string_view> value;
  if (size_t eq = line.find('='); eq != std::string_view::npos) {
    verb = Trim(line.substr(0, eq));
    value = Trim(line.substr(eq + 1));
  }
  ControlCommand command;
  if (verb == "status" || verb == "pause" || verb == "resume") {
    if (value) {
      return Error{ErrorCode::kBadInput, std::string(verb) + " takes no value: send " +
                                             std::string(verb) + " alone"};
    }
    command.verb = verb == "status"  ? ControlVerb::kStatus
                   : verb == "pause" ? ControlVerb::kPause
                                     : ControlVerb::kResume;
    return command;
  }
  if (verb == "rate") {
    command.verb = ControlVerb::kRate;
    if (value) {
      UDMG_ASSIGN_OR_RETURN(command.rate, ParseRate(*value));
    }
    return command;
  }
  if (verb == "batch-size") {
    command.verb = ControlVerb::kBatchSize;
    if (value) {
      UDMG_ASSIGN_OR_RETURN(command.batch_size, ParseBatchSize(*value));
    }
    return command;
  }
  if (line.empty()) return Error{ErrorCode::kBadInput, "empty command: " + std::string(kUsageHint)};
  return Error{ErrorCode::kBadInput,
               "unknown command " + Quote(verb) + ": " + std::string(kUsageHint)};
}

ControlCommands::ControlCommands(Throttle& throttle, const ProgressTracker* progress)
    : throttle_(throttle), progress_(progress) {}

std::string ControlCommands::Execute(std::string_view line) {
  Result<ControlCommand> parsed = ParseControlCommand(line);
  if (!parsed.ok()) return ErrorReply(parsed.error().message);
  const ControlCommand& command = *parsed;
  json reply{{"ok", true}};
  switch (command.verb) {
    case ControlVerb::kStatus: {
      ThrottleStats stats = throttle_.Stats();
      reply["state"] = stats.paused           ? "paused"
                       : stats.hold           ? std::string(ThrottleReasonName(stats.hold_reason))
                       : stats.latency_paused ? "latency_paused"
                                              : "running";
      if (stats.hold) reply["hold"] = *stats.hold;
      if (progress_) {
        ProgressFigures s = progress_->Snapshot(&throttle_);
        reply["done"] = s.done;
        reply["total"] = s.total;
        reply["elapsed_seconds"] = s.elapsed_seconds;
        reply["rows_per_second"] = s.rows_per_second;
        reply["eta_seconds"] = s.eta_seconds ? json(*s.eta_seconds) : json(nullptr);
        reply["waiting_for_lock"] =
            s.lock_wait ? json{{"blocking_pids", s.lock_wait->blocking_pids},
                               {"seconds", s.lock_wait->waited_seconds}}
                        : json(nullptr);
      }
      json throttled = json::object();
      for (size_t i = 0; i < kThrottleReasonCount; ++i) {
        throttled[std::string(ThrottleReasonName(static_cast<ThrottleReason>(i)))] =
            stats.throttled_seconds[i];
      }
      reply["throttled_seconds"] = throttled;
      reply["rate"] = stats.rows_per_second;
      reply["batch_size"] = stats.batch_size;
      reply["adaptive"] = stats.adaptive;
      break;
    }
    case ControlVerb::kPause:
      throttle_.Pause();
      reply["paused"] = true;
      break;
    case ControlVerb::kResume:
      throttle_.Resume();
      reply["paused"] = false;
      break;
    case ControlVerb::kRate:
      if (command.rate) {
        Result<double> previous = throttle_.SetRowsPerSecond(*command.rate);
        if (!previous.ok()) return ErrorReply(previous.error().message);
        reply["previous"] = *previous;
      }
      reply["rate"] = throttle_.Stats().rows_per_second;
      break;
    case ControlVerb::kBatchSize:
      if (command.batch_size) {
        Result<size_t> previous = throttle_.SetBatchSize(*command.batch_size);
        if (!previous.ok()) return ErrorReply(previous.error().message);
        reply["previous"] = *previous;
      }
      ThrottleStats stats = throttle_.Stats();
      reply["batch_size"] = stats.batch_size;
      reply["adaptive"] = stats.adaptive;
      break;
  }
  return reply.dump();
}

// ---- Socket path -----------------------------------------------------------------------------

std::string DefaultControlSocketPath(std::string_view database_url) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (database_url.starts_with(kSqlite)) {
    std::error_code ec;
    auto file = std::filesystem::absolute(std::string(database_url.substr(kSqlite.size())), ec);
    std::string path = file.string() + ".control";
    if (!ec && path.size() <= kMaxSocketPathLength) return path;
  }
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(Fnv1a(database_url)));
  const char* runtime_dir = std::getenv("XDG_RUNTIME_DIR");
  if (runtime_dir && *runtime_dir) {
    std::string path = std::string(runtime_dir) + "/udmg-control-" + hash + ".sock";
    if (path.size() <= kMaxSocketPathLength) return path;
  }
  return "/tmp/udmg-" + std::to_string(geteuid()) + "/control-" + hash + ".sock";
}

// ---- Server ----------------------------------------------------------------------------------

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& path,
                                                            ControlCommands& commands) {
  sockaddr_un address{};
  if (!FillAddress(path, address)) {
    return Error{ErrorCode::kBadInput, "control socket path must be 1 to " +
                                           std::to_string(kMaxSocketPathLength) +
                                           " bytes: make the control socket path shorter",
                 "control_socket"};
  }
  UDMG_RETURN_IF_ERROR(EnsurePrivateRuntimeDir(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{ErrorCode::kInternal, Errno("cannot create a Unix socket")};
  Status bound = BindPrivate(fd, path, address);
  if (!bound.ok()) {
    close(fd);
    return bound.error();
  }
  int wake[2];
  if (listen(fd, 8) != 0 || pipe2(wake, O_CLOEXEC) != 0) {
    std::string message = Errno(("cannot listen on " + path).c_str());
    close(fd);
    unlink(path.c_str());
    return Error{ErrorCode::kInternal, message};
  }
  auto server = std::unique_ptr<ControlServer>(new ControlServer(path, fd, wake[0], wake[1], commands));
  server->thread_ = std::thread([raw = server.get()] { raw->Serve(); });
  return server;
}

ControlServer::ControlServer(std::string path, int listen_fd, int wake_read_fd, int wake_write_fd,
                             ControlCommands& commands)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      commands_(commands) {}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  char byte = 1;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_read_fd_);
  close(wake_write_fd_);
  unlink(path_.c_str());
}

void ControlServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ServeConnection(fd);
    close(fd);
  }
}

void ControlServer::ServeConnection(int fd) {
  // The socket is 0600 already; the peer's uid is checked too, in case the file was widened.
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != geteuid()) {
    SendAll(fd, ErrorReply("refused: only the user running the job may control it") + "\n");
    return;
  }
  std::string buffer;
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    int ready = poll(fds, 2, kIdleTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || fds[1].revents) return;
    char chunk[512];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string reply = commands_.Execute(std::string_view(buffer).substr(0, newline));
      buffer.erase(0, newline + 1);
      served_.fetch_add(1);
      if (!SendAll(fd, reply + "\n")) return;
    }
    if (buffer.size() > kMaxLineLength) {
      SendAll(fd, ErrorReply("command longer than " + std::to_string(kMaxLineLength) +
                             " bytes: " + std::string(kUsageHint)) + "\n");
      return;
    }
  }
}

// ---- Client ----------------------------------------------------------------------------------

Result<std::string> SendControlCommand(const std::string& path, std::string_view command,
                                       Duration timeout) {
  if (command.find('\n') != std::string_view::npos) {
    return Error{ErrorCode::kBadInput, "a control command is one line: " + std::string(kUsageHint)};
  }
  sockaddr_un address{};
  if (!FillAddress(path, address)) {
    return Error{ErrorCode::kBadInput, "control socket path must be 1 to " +
                                           std::to_string(kMaxSocketPathLength) + " bytes"};
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{ErrorCode::kInternal, Errno("cannot create a Unix socket")};
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      return Error{ErrorCode::kNotFound,
                   "no job is listening on " + path +
                       ": is a re-encryption running? (the control socket path must match the job's)",
                   "control_socket"};
    }
    return Error{ErrorCode::kInternal, Errno(("cannot connect to " + path).c_str())};
  }
  if (!SendAll(fd, std::string(command) + "\n")) {
    return Error{ErrorCode::kInternal, Errno(("cannot send to " + path).c_str())};
  }
  std::string reply;
  auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  while (reply.find('\n') == std::string::npos) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(timeout_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return Error{ErrorCode::kInternal, "no reply from " + path + " in time: try again"};
    char chunk[512];
    ssize_t n = ready > 0 ? recv(fd, chunk, sizeof chunk, 0) : -1;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{ErrorCode::kInternal, "the job at " + path + " closed without a reply"};
    reply.append(chunk, static_cast<size_t>(n));
  }
  reply.resize(reply.find('\n'));
  json parsed = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("ok")) {
    return Error{ErrorCode::kInternal, "unreadable reply from " + path};
  }
  if (parsed["ok"] != true) {
    return Error{ErrorCode::kBadInput, parsed.value("error", std::string("command refused"))};
  }
  return reply;
}

}  // namespace udmg::pipeline
