#include "metrics/exposer.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "engine/quoted_input.h"
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

class Exposer::Impl {
 public:
  Impl(std::string host, size_t num_threads) : host_(std::move(host)) {
    const size_t threads = std::max<size_t>(1, num_threads);
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
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
      if (port_ > 0) return Status::Ok();
    } else if (server_.bind_to_port(host_, port)) {
      port_ = port;
      return Status::Ok();
    }
    return ExplainBindFailure(host_, port);
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
    thread_.join();
  }

  void RegisterCollectable(const std::weak_ptr<Collectable>& collectable) {
    std::lock_guard lock(mutex_);
    collectables_.push_back(collectable);
  }

  void RemoveCollectable(const std::weak_ptr<Collectable>& collectable) {
    std::lock_guard lock(mutex_);
    std::erase_if(collectables_, [&](const std::weak_ptr<Collectable>& known) {
      return !known.owner_before(collectable) && !collectable.owner_before(known);
    });
  }

  void AddHandler(const std::string& method, const std::string& path, HttpHandler handler) {
    std::lock_guard lock(mutex_);
    handlers_[{path, method}] = std::move(handler);
  }

  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  std::string Scrape() {
    std::vector<std::shared_ptr<Collectable>> alive;
    {
      std::lock_guard lock(mutex_);
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
      std::lock_guard lock(mutex_);
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
    try {
      return handler(request.params, request.body);
    } catch (const std::exception& error) {  // the HTTP edge: a throwing handler is a 500
      return {500, kPlain, std::string("handler failed: ") + error.what() + "\n"};
    }
  }

  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  const std::string host_;
  int port_ = 0;
  std::mutex mutex_;
  std::vector<std::weak_ptr<Collectable>> collectables_;                  // guarded by mutex_
  std::map<std::pair<std::string, std::string>, HttpHandler> handlers_;  // (path, method)
};

Result<std::unique_ptr<Exposer>> Exposer::Start(std::string_view listen_address,
                                                size_t num_threads) {
  UDMG_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(listen_address));
  auto impl = std::make_unique<Impl>(address.host, num_threads);
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
  std::string host = impl_->host();
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return "http://" + Describe(host, impl_->port()) + kMetricsPath;
}

}  // namespace udmg::metrics
