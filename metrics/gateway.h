// Pushgateway client (prometheus-cpp gateway.h shape) for runs that end before a scrape.
//
// The group is `job` plus the grouping labels, pushed to
//   <url>/metrics/job/<job>/<label>/<value>...
// with each value percent-encoded, or in the Pushgateway's `<label>@base64/<base64url>` form
// when it contains a '/' or is empty. The Pushgateway sets the grouping labels on every pushed
// series, overriding a series' own label of the same name.
//
// Thread-safety: RegisterCollectable may be called from any thread; Push/PushAdd/Delete may run
// concurrently (each uses its own connection).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

class Gateway {
 public:
  // `url` is http://HOST[:PORT][/PREFIX] (port 80 by default; https is not supported).
  // kBadInput for a malformed URL, an empty job or an invalid grouping label name.
  static Result<std::unique_ptr<Gateway>> Create(
      std::string_view url, const std::string& job, const Labels& grouping_labels = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Pushed while alive; the gateway does not keep it alive.
  void RegisterCollectable(const std::weak_ptr<Collectable>& collectable);

  // PUT: replaces every metric of the group with the collected families.
  Status Push() const;
  // POST: replaces only the families pushed (others in the group stay: a failed run that does
  // not push udmg_last_success_timestamp_seconds keeps the previous one).
  Status PushAdd() const;
  // DELETE: removes the whole group.
  Status Delete() const;
  // Errors: kBadInput when the Pushgateway cannot be reached (refused, timeout, unknown host),
  // kInternal when it answers other than 2xx (the code and the first line of its reply).

  // {"instance": hostname}, the usual extra grouping label.
  static Labels GetInstanceLabel(std::string hostname);
  // This machine's host name ("localhost" if it cannot be read).
  static std::string Hostname();

  // The group's path below the URL, e.g. "/metrics/job/udmg_sweep/instance/db1".
  const std::string& group_path() const { return group_path_; }

 private:
  Gateway(std::string base_url, std::string prefix, std::string group_path,
          std::chrono::milliseconds timeout);
  Status Send(const char* method) const;

  const std::string base_url_;  // scheme://host:port, for the HTTP client
  const std::string prefix_;    // path prefix without trailing '/'
  const std::string group_path_;
  const std::chrono::milliseconds timeout_;
  mutable base::Mutex mutex_;
  std::vector<std::weak_ptr<Collectable>> collectables_ GUARDED_BY(mutex_);
};

// RFC 4648 §5 base64url with '=' padding, as the Pushgateway decodes path values.
std::string Base64UrlEncode(std::string_view bytes);
// One grouping-key path segment pair "name/value" or "name@base64/..." (no leading '/').
std::string GroupingKeySegment(std::string_view name, std::string_view value);

}  // namespace udmg::metrics
