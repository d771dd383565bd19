// HTTP listener serving GET /metrics from registered collectables while a job runs
// (prometheus-cpp exposer.h shape), plus extra handlers for whoever needs the same port (the CLI
// puts the pipeline's ControlCommands on /control/...). Built on cpp-httplib, hidden here.
//
// Slow or hostile clients cannot starve it: each connection has a thread of its own (at most
// kMaxConnections at once, more are answered 503 at once), must deliver its whole request (head
// at most kMaxRequestHeadBytes, body at most kMaxRequestBodyBytes, else 431/413 without reading
// it) within kRequestReadTimeout (else 408), and gets one response, then the connection closes.
//
// Thread-safety: RegisterCollectable, RemoveCollectable and AddHandler may be called from any
// thread at any time (also while serving). Start/Stop/the destructor from one controlling thread.
// Requests run on the exposer's own threads; handlers must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

// Decoded query-string parameters (a repeated name keeps each value).
using QueryParams = std::multimap<std::string, std::string>;

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpRequest {
  std::string method;  // "GET" (also for HEAD), "POST", ...
  QueryParams params;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case; a repeated one keeps one

  // The value of header `lowercase_name`, "" when absent.
  std::string Header(const std::string& lowercase_name) const {
    auto found = headers.find(lowercase_name);
    return found == headers.end() ? "" : found->second;
  }
};

// Runs on a server thread: must be thread-safe and must not block for long.
using HttpHandler = std::function<HttpReply(const HttpRequest& request)>;

inline constexpr size_t kMaxRequestHeadBytes = 8192;
inline constexpr size_t kMaxRequestBodyBytes = 4096;
inline constexpr std::chrono::seconds kRequestReadTimeout{5};
inline constexpr size_t kMaxConnections = 64;

class Exposer {
 public:
  // Binds `listen_address` ("HOST:PORT", "[V6]:PORT" or ":PORT" for every interface; port 0
  // picks a free port) and serves until Stop. kBadInput: malformed address, unknown host, or an
  // address not on this machine / not permitted; kConflict: the address is in use. One line
  // naming the address.
  static Result<std::unique_ptr<Exposer>> Start(std::string_view listen_address);
  ~Exposer();  // Stops.
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  // Scraped on every GET /metrics while alive; the exposer does not keep it alive.
  void RegisterCollectable(const std::weak_ptr<Collectable>& collectable);
  void RemoveCollectable(const std::weak_ptr<Collectable>& collectable);

  // Serves `method` ("GET", "POST", ...) on exactly `path` (no pattern). A later handler for the
  // same method and path replaces the earlier one; GET /metrics cannot be replaced. A handler
  // that throws yields a 500. Unknown paths get 404, known paths with another method 405.
  void AddHandler(const std::string& method, const std::string& path, HttpHandler handler);

  // Stops accepting, cuts the connections still being read, finishes the requests being
  // answered, joins the threads. Idempotent.
  void Stop();

  // The address really bound, numeric ("0.0.0.0" for ":PORT": every IPv4 address; "127.0.0.1"
  // for "localhost" when that is what it resolved to), and the bound port (the chosen one for 0).
  const std::string& host() const;
  int port() const;
  // "http://HOST:PORT/metrics" for that address, with [..] around IPv6: what a client on this
  // machine can scrape, and what the listener really accepts ("0.0.0.0" says: from anywhere).
  std::string MetricsUrl() const;

 private:
  class Impl;
  explicit Exposer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" / "[V6]:PORT" / ":PORT" (host "0.0.0.0"). kBadInput on anything else, a host
// that is not printable ASCII without spaces, or a port outside 0..65535.
struct ListenAddress {
  std::string host;
  int port = 0;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace udmg::metrics
