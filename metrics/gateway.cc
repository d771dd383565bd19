#include "metrics/gateway.h"

#include <httplib.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <utility>

#include "base/percent_encoding.h"
#include "metrics/names.h"
#include "metrics/text_serializer.h"

namespace udmg::metrics {
namespace {

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 200) line.resize(200);
  return line.empty() ? "(empty reply)" : line;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string GroupingKeySegment(std::string_view name, std::string_view value) {
  // The Pushgateway documents "@base64/=" for an empty value.
  if (value.empty()) return std::string(name) + "@base64/=";
  if (value.find('/') != std::string_view::npos) {
    return std::string(name) + "@base64/" + Base64UrlEncode(value);
  }
  return std::string(name) + "/" + PercentEncode(value);
}

Result<std::unique_ptr<Gateway>> Gateway::Create(std::string_view url, const std::string& job,
                                                 const Labels& grouping_labels,
                                                 std::chrono::milliseconds timeout) {
  const auto bad = [&](const std::string& why) {
    return Error{ErrorCode::kBadInput, "bad pushgateway URL \"" + std::string(url) + "\": " +
                                           why + "; use http://HOST:PORT[/PREFIX]"};
  };
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return bad("only http:// is supported");
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.find_first_of("?#") != std::string::npos) return bad("no query or fragment");
  if (authority.find('@') != std::string_view::npos) return bad("credentials are not supported");

  std::string host;
  int port = 80;
  const size_t colon = authority.rfind(':');
  const bool bracketed = authority.starts_with("[");
  if (colon != std::string_view::npos && (!bracketed || authority[colon - 1] == ']')) {
    std::string_view port_text = authority.substr(colon + 1);
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port < 1 || port > 65535) {
      return bad("port must be a number 1..65535");
    }
    authority = authority.substr(0, colon);
  }
  host = std::string(authority);
  if (host.empty() || host == "[]") return bad("no host");

  if (job.empty()) {
    return Error{ErrorCode::kBadInput, "pushgateway job name is empty: give a job name"};
  }
  std::string group_path = "/metrics/" + GroupingKeySegment("job", job);
  for (const auto& [name, value] : grouping_labels) {
    Status valid = ValidateLabelName(name);
    if (!valid.ok() || name == "job") {
      return Error{ErrorCode::kBadInput, "bad pushgateway grouping label \"" + name +
                                             "\": use [a-zA-Z_][a-zA-Z0-9_]* other than job"};
    }
    group_path += "/" + GroupingKeySegment(name, value);
  }
  const std::string base_url = "http://" + host + ":" + std::to_string(port);
  return std::unique_ptr<Gateway>(
      new Gateway(base_url, std::move(prefix), std::move(group_path), timeout));
}

Gateway::Gateway(std::string base_url, std::string prefix, std::string group_path,
                 std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), prefix_(std::move(prefix)),
      group_path_(std::move(group_path)), timeout_(timeout) {}

void Gateway::RegisterCollectable(const std::weak_ptr<Collectable>& collectable) {
  base::MutexLock lock(mutex_);
  collectables_.push_back(collectable);
}

Status Gateway::Push() const { return Send("PUT"); }
Status Gateway::PushAdd() const { return Send("POST"); }
Status Gateway::Delete() const { return Send("DELETE"); }

Status Gateway::Send(const char* method) const {
  const std::string method_name = method;
  std::string body;
  if (method_name != "DELETE") {
    std::vector<std::shared_ptr<Collectable>> alive;
    {
      base::MutexLock lock(mutex_);
      for (const auto& weak : collectables_) {
        if (auto strong = weak.lock()) alive.push_back(std::move(strong));
      }
    }
    std::vector<MetricFamily> families;
    for (const auto& collectable : alive) {
      for (MetricFamily& family : collectable->Collect()) families.push_back(std::move(family));
    }
    body = TextSerializer().Serialize(families);
  }

  httplib::Client client(base_url_);
  client.set_connection_timeout(timeout_);
  client.set_read_timeout(timeout_);
  client.set_write_timeout(timeout_);
  const std::string path = prefix_ + group_path_;
  httplib::Result result = method_name == "PUT"    ? client.Put(path, body, kTextContentType)
                           : method_name == "POST" ? client.Post(path, body, kTextContentType)
                                                   : client.Delete(path);
  const std::string where = base_url_ + path;
  if (!result) {
    return Status(ErrorCode::kBadInput, "cannot reach the pushgateway at " + where + ": " +
                                            httplib::to_string(result.error()) +
                                            "; check the pushgateway URL and that it runs",
                  "pushgateway");
  }
  if (result->status < 200 || result->status > 299) {
    return Status(ErrorCode::kInternal, "pushgateway " + method_name + " " + where +
                                            " answered " + std::to_string(result->status) + ": " +
                                            FirstLine(result->body));
  }
  return Status::Ok();
}

Labels Gateway::GetInstanceLabel(std::string hostname) {
  return {{"instance", std::move(hostname)}};
}

std::string Gateway::Hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace udmg::metrics
