// HTTP listener serving GET /metrics from registered collectables while a job runs
// (prometheus-cpp exposer.h shape), plus extra handlers for whoever needs the same port (the CLI
// puts the pipeline's ControlCommands on /control/...). Built on cpp-httplib, hidden here.
//
// Thread-safety: RegisterCollectable, RemoveCollectable and AddHandler may be called from any
// thread at any time (also while serving). Start/Stop/the destructor from one controlling thread.
// Requests run on the exposer's own threads; handlers must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "engine/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

// Decoded query-string parameters (a repeated name keeps each value).
using QueryParams = std::multimap<std::string, std::string>;

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Runs on a server thread: must be thread-safe and must not block for long.
using HttpHandler = std::function<HttpReply(const QueryParams& params, const std::string& body)>;

class Exposer {
 public:
  // Binds `listen_address` ("HOST:PORT", "[V6]:PORT" or ":PORT" for every interface; port 0
  // picks a free port) and serves on `num_threads` threads until Stop. kBadInput: malformed
  // address, unknown host, or an address not on this machine / not permitted; kConflict: the
  // address is in use. One line naming the address.
  static Result<std::unique_ptr<Exposer>> Start(std::string_view listen_address,
                                                size_t num_threads = 2);
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

  // Stops accepting, finishes requests in progress, joins the threads. Idempotent.
  void Stop();

  // The bound host as given ("0.0.0.0" for ":PORT") and the bound port (the chosen one for 0).
  const std::string& host() const;
  int port() const;
  // "http://HOST:PORT/metrics", with 127.0.0.1 for a wildcard host and [..] around IPv6.
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
