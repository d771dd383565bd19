#include "metrics/exposer.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/quoted_input.h"
#include "metrics/text_serializer.h"

namespace udmg::metrics {
namespace {

constexpr char kMetricsPath[] = "/metrics";

std::string Describe(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// httplib reports a failed bind as `false`; bind once more ourselves to learn why.
Status ExplainBindFailure(const std::string& host, int port) {
  const std::string where = Describe(host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    return Status(ErrorCode::kBadInput, "cannot listen on " + where + ": " + gai_strerror(rc) +
                                            "; give an address of this machine");
  }
  int error = 0;
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0) {
    error = errno;
  } else {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 1) != 0) error = errno;
    close(fd);
  }
  freeaddrinfo(found);
  if (error == EADDRINUSE) {
    return Status(ErrorCode::kConflict, "cannot listen on " + where +
                                            ": address already in use; pick another port or 0");
  }
  const std::string reason = error != 0 ? std::strerror(error) : "bind failed";
  return Status(ErrorCode::kBadInput, "cannot listen on " + where + ": " + reason +
                                          "; give an address of this machine and a free port");
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const auto bad = [&](const char* why) {
    return Error{ErrorCode::kBadInput, "bad listen address " + QuotedInput(text) + ": " +
                                           why + "; use HOST:PORT, [IPV6]:PORT or :PORT"};
  };
  ListenAddress address;
  std::string_view port_text;
  if (text.starts_with("[")) {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos || close == 1) return bad("unclosed IPv6 bracket");
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) return bad("IPv6 needs brackets");
    if (address.host.empty()) address.host = "0.0.0.0";
    port_text = text.substr(colon + 1);
  }
  // A host name or address is printable ASCII; anything else would only fail later, at bind,
  // in a message that shows the host as given.
  for (const char c : address.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return bad("the host holds a space, a control or a non-ASCII character");
    }
  }
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), address.port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      address.port < 0 || address.port > 65535) {
    return bad("port must be a number 0..65535");
  }
  return address;
}

namespace {

using Clock = std::chrono::steady_clock;

// One thread per connection, so that a client that is slow to send its request holds only its
// own thread (BoundedServer caps how many run at once). shutdown() waits for them all.
class ThreadPerConnection : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> task) override {
    {
      base::MutexLock lock(mutex_);
      ++running_;
    }
    std::thread([this, task = std::move(task)]() mutable {
      task();
      task = nullptr;
      base::MutexLock lock(mutex_);
      if (--running_ == 0) idle_.NotifyAll();
    }).detach();
  }

  void shutdown() override {
    base::MutexLock lock(mutex_);
    while (running_ != 0) idle_.Wait(mutex_);
  }

 private:
  base::Mutex mutex_;
  base::CondVar idle_;
  size_t running_ GUARDED_BY(mutex_) = 0;
};

// A request read whole beforehand, handed to httplib's parser; writes go to the socket, each
// bounded by the read timeout so a client that does not read cannot hold the thread.
class PrereadStream : public httplib::Stream {
 public:
  PrereadStream(socket_t socket, std::string request)
      : socket_(socket), request_(std::move(request)) {}

  bool is_readable() const override { return offset_ < request_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* data, size_t size) override {
    const size_t count = std::min(size, request_.size() - offset_);
    std::memcpy(data, request_.data() + offset_, count);
    offset_ += count;
    return static_cast<ssize_t>(count);
  }
  ssize_t write(const char* data, size_t size) override {
    size_t sent = 0;
    while (sent < size) {
      pollfd ready{socket_, POLLOUT, 0};
      const int timeout = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(kRequestReadTimeout).count());
      if (::poll(&ready, 1, timeout) <= 0) return -1;
      const ssize_t wrote = ::send(socket_, data + sent, size - sent, MSG_NOSIGNAL);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) return -1;
      sent += static_cast<size_t>(wrote);
    }
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  socket_t socket() const override { return socket_; }

 private:
  socket_t socket_;
  std::string request_;
  size_t offset_ = 0;
};

// The Content-Length a request head announces; 0 when it has none (or an unreadable one, which
// httplib's parser then refuses).
size_t ContentLength(std::string_view head) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string_view name = "\r\ncontent-length:";
  const size_t at = lower.find(name);
  if (at == std::string::npos) return 0;
  size_t begin = at + name.size();
  while (begin < lower.size() && lower[begin] == ' ') ++begin;
  size_t length = 0;
  const std::errc parsed =
      std::from_chars(lower.data() + begin, lower.data() + lower.size(), length).ec;
  return parsed == std::errc() ? length : std::numeric_limits<size_t>::max();
}

// A bare reply for a request that is not handed to httplib (the connection is closed after).
void SendStatus(socket_t socket, std::string_view status) {
  const std::string reply = "HTTP/1.1 " + std::string(status) +
                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  ::send(socket, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

// httplib's server with the request read by us first: the whole head and body within one
// deadline and size bound, on the connection's own thread, so a slow client never blocks another.
class BoundedServer : public httplib::Server {
 public:
  BoundedServer() {
    new_task_queue = [] { return new ThreadPerConnection(); };
    set_payload_max_length(kMaxRequestBodyBytes);
    set_keep_alive_max_count(1);
  }

  // The address the listening socket is bound to, numeric.
  std::string BoundAddress() const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getsockname(svr_sock_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
    char host[NI_MAXHOST] = {};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      return "";
    }
    return host;
  }

  // Cuts every connection still open (their reads and writes fail at once); new ones are closed.
  void AbortConnections() {
    base::MutexLock lock(mutex_);
    stopping_ = true;
    for (socket_t socket : open_) ::shutdown(socket, SHUT_RDWR);
  }

 private:
  bool process_and_close_socket(socket_t socket) override {
    if (Admit(socket)) {
      std::optional<std::string> request = ReadRequest(socket);
      if (request) {
        PrereadStream stream(socket, std::move(*request));
        bool closed = false;
        process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
      }
      Release(socket);
    }
    CloseGracefully(socket);
    return true;
  }

  // Closing with unread bytes pending makes the kernel send a reset, which can destroy the reply
  // before the client reads it: end our side, then drain what the client still sends (briefly).
  static void CloseGracefully(socket_t socket) {
    ::shutdown(socket, SHUT_WR);
    const Clock::time_point until = Clock::now() + std::chrono::seconds(1);
    char sink[4096];
    for (size_t drained = 0; drained < 64 * 1024 && Clock::now() < until;) {
      pollfd ready{socket, POLLIN, 0};
      if (::poll(&ready, 1, 100) < 0 && errno != EINTR) break;
      if ((ready.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::recv(socket, sink, sizeof sink, MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) break;
      if (got > 0) drained += static_cast<size_t>(got);
    }
    ::close(socket);
  }

  bool Admit(socket_t socket) {
    base::MutexLock lock(mutex_);
    if (stopping_) return false;
    if (open_.size() >= kMaxConnections) {
      SendStatus(socket, "503 Service Unavailable");
      return false;
    }
    open_.insert(socket);
    return true;
  }

  void Release(socket_t socket) {
    base::MutexLock lock(mutex_);
    open_.erase(socket);
  }

  // The request's head and (when it fits the bound) its body, or nullopt after answering why not.
  std::optional<std::string> ReadRequest(socket_t socket) {
    const Clock::time_point deadline = Clock::now() + kRequestReadTimeout;
    std::string request;
    size_t head_end = std::string::npos;
    size_t wanted = kMaxRequestHeadBytes;  // until the head is complete
    char chunk[4096];
    while (head_end == std::string::npos || request.size() < wanted) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd ready{socket, POLLIN, 0};
      if (left <= 0 || ::poll(&ready, 1, static_cast<int>(left)) == 0) {
        SendStatus(socket, "408 Request Timeout");
        return std::nullopt;
      }
      const ssize_t got = ::recv(socket, chunk, sizeof chunk, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return std::nullopt;  // the client left, or Stop cut the connection
      request.append(chunk, static_cast<size_t>(got));
      if (head_end == std::string::npos) {
        head_end = request.find("\r\n\r\n");
        if (head_end == std::string::npos) {
          if (request.size() > kMaxRequestHeadBytes) {
            SendStatus(socket, "431 Request Header Fields Too Large");
            return std::nullopt;
          }
          continue;
        }
        head_end += 4;
        if (head_end > kMaxRequestHeadBytes) {
          SendStatus(socket, "431 Request Header Fields Too Large");
          return std::nullopt;
        }
        const size_t body = ContentLength(std::string_view(request).substr(0, head_end));
        // A body over the bound is not read: httplib answers 413 from the head alone.
        wanted = head_end + (body <= kMaxRequestBodyBytes ? body : 0);
      }
    }
    request.resize(std::min(request.size(), wanted));
    return request;
  }

  base::Mutex mutex_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::set<socket_t> open_ GUARDED_BY(mutex_);
};

class Exposer::Impl {
 public:
  explicit Impl(std::string host) : host_(std::move(host)) {
    // httplib's default adds SO_REUSEPORT, which lets a second job bind the same port and steal
    // half the scrapes; SO_REUSEADDR alone still allows a quick restart.
    server_.set_socket_options([](socket_t socket) {
      const int yes = 1;
      setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    const auto route = [this](const httplib::Request& request, httplib::Response& response) {
      Dispatch(request, response);
    };
    server_.Get(".*", route);
    server_.Post(".*", route);
    server_.Put(".*", route);
    server_.Delete(".*", route);
  }
  ~Impl() { Stop(); }

  Status Bind(int port) {
    if (port == 0) {
      port_ = server_.bind_to_any_port(host_);
      if (port_ <= 0) return ExplainBindFailure(host_, port);
    } else if (server_.bind_to_port(host_, port)) {
      port_ = port;
    } else {
      return ExplainBindFailure(host_, port);
    }
    if (std::string bound = server_.BoundAddress(); !bound.empty()) host_ = bound;
    return Status::Ok();
  }

  void Run() {
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_ = true;
    });
    // httplib's stop() is a no-op until the accept loop runs: wait for it, so Stop never hangs.
    while (!server_.is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void Stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    server_.AbortConnections();
    thread_.join();
  }

  void RegisterCollectable(const std::weak_ptr<Collectable>& collectable) {
    base::MutexLock lock(mutex_);
    collectables_.push_back(collectable);
  }

  void RemoveCollectable(const std::weak_ptr<Collectable>& collectable) {
    base::MutexLock lock(mutex_);
    std::erase_if(collectables_, [&](const std::weak_ptr<Collectable>& known) {
      return !known.owner_before(collectable) && !collectable.owner_before(known);
    });
  }

  void AddHandler(const std::string& method, const std::string& path, HttpHandler handler) {
    base::MutexLock lock(mutex_);
    handlers_[{path, method}] = std::move(handler);
  }

  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  std::string Scrape() {
    std::vector<std::shared_ptr<Collectable>> alive;
    {
      base::MutexLock lock(mutex_);
      std::erase_if(collectables_, [](const auto& weak) { return weak.expired(); });
      for (const auto& weak : collectables_) {
        if (auto strong = weak.lock()) alive.push_back(std::move(strong));
      }
    }
    std::vector<MetricFamily> families;
    for (const auto& collectable : alive) {
      for (MetricFamily& family : collectable->Collect()) families.push_back(std::move(family));
    }
    return TextSerializer().Serialize(families);
  }

  void Dispatch(const httplib::Request& request, httplib::Response& response) {
    const bool is_get = request.method == "GET" || request.method == "HEAD";
    if (request.path == kMetricsPath && is_get) {
      response.set_content(Scrape(), kTextContentType);
      return;
    }
    const HttpReply reply = RunHandler(request);
    response.status = reply.status;
    response.set_content(reply.body, reply.content_type.c_str());
  }

  HttpReply RunHandler(const httplib::Request& request) {
    constexpr char kPlain[] = "text/plain; charset=utf-8";
    HttpHandler handler;
    bool path_known = request.path == kMetricsPath;
    {
      base::MutexLock lock(mutex_);
      const std::string method = request.method == "HEAD" ? "GET" : request.method;
      auto it = handlers_.find({request.path, method});
      if (it != handlers_.end()) handler = it->second;
      auto same_path = handlers_.lower_bound({request.path, ""});
      path_known = path_known ||
                   (same_path != handlers_.end() && same_path->first.first == request.path);
    }
    if (!handler && path_known) {
      return {405, kPlain, request.method + " is not allowed on " + request.path + "\n"};
    }
    if (!handler) return {404, kPlain, "no such path: " + request.path + "\n"};
    HttpRequest call{request.method == "HEAD" ? "GET" : request.method, request.params,
                     request.body, {}};
    for (const auto& [name, value] : request.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      call.headers[lower] = value;
    }
    try {
      return handler(call);
    } catch (const std::exception& error) {  // the HTTP edge: a throwing handler is a 500
      return {500, kPlain, std::string("handler failed: ") + error.what() + "\n"};
    }
  }

  BoundedServer server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::string host_;  // as given, then the address really bound
  int port_ = 0;
  base::Mutex mutex_;
  std::vector<std::weak_ptr<Collectable>> collectables_ GUARDED_BY(mutex_);
  std::map<std::pair<std::string, std::string>, HttpHandler> handlers_;  // (path, method)
};

Result<std::unique_ptr<Exposer>> Exposer::Start(std::string_view listen_address) {
  UDMG_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(listen_address));
  auto impl = std::make_unique<Impl>(address.host);
  UDMG_RETURN_IF_ERROR(impl->Bind(address.port));
  impl->Run();
  return std::unique_ptr<Exposer>(new Exposer(std::move(impl)));
}

Exposer::Exposer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Exposer::~Exposer() = default;

void Exposer::RegisterCollectable(const std::weak_ptr<Collectable>& collectable) {
  impl_->RegisterCollectable(collectable);
}
void Exposer::RemoveCollectable(const std::weak_ptr<Collectable>& collectable) {
  impl_->RemoveCollectable(collectable);
}
void Exposer::AddHandler(const std::string& method, const std::string& path,
                         HttpHandler handler) {
  impl_->AddHandler(method, path, std::move(handler));
}
void Exposer::Stop() { impl_->Stop(); }
const std::string& Exposer::host() const { return impl_->host(); }
int Exposer::port() const { return impl_->port(); }

std::string Exposer::MetricsUrl() const {
  return "http://" + Describe(impl_->host(), impl_->port()) + kMetricsPath;
}

}  // namespace udmg::metrics
