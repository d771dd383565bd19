#include "tests/metrics/e2e/metrics_e2e_support.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace udmg::testing {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

BusyPort::BusyPort() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      listen(fd_, 1) == 0 &&
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port_ = ntohs(address.sin_port);
  }
}

void BusyPort::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string RawHttpStatusLine(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; reply.find("\r\n") == std::string::npos &&
                    (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
      reply.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

std::string ListenUrl(BackgroundProcess& job) {
  const std::regex line(R"(metrics: listening on (http://\S+/metrics))");
  std::string url;
  metrics::testing::PollUntil([&] {
    std::smatch match;
    std::string text = ReadFile(job.stderr_path());
    if (std::regex_search(text, match, line)) url = match[1];
    return !url.empty() || !job.Running();
  });
  return url;
}

int ListenPort(BackgroundProcess& job) {
  const std::regex local(R"(http://127\.0\.0\.1:([0-9]+)/metrics)");
  std::smatch match;
  const std::string url = ListenUrl(job);
  return std::regex_match(url, match, local) ? std::stoi(match[1]) : -1;
}

std::optional<HttpResponse> HttpPost(int port, const std::string& path,
                                     const std::multimap<std::string, std::string>& headers) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  httplib::Headers sent(headers.begin(), headers.end());
  httplib::Result result = client.Post(path, sent, "", "text/plain");
  if (!result) return std::nullopt;
  return HttpResponse{result->status, result->get_header_value("Content-Type"), result->body};
}

std::optional<double> SampleValue(const std::string& exposition, const std::string& series) {
  for (const std::string& line : Lines(exposition)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

double SumSamples(const std::string& exposition, const std::string& name,
                  const std::vector<std::string>& label_parts) {
  double sum = 0;
  for (const std::string& line : Lines(exposition)) {
    if (line.empty() || line[0] == '#') continue;
    size_t end = line.find_first_of("{ ");
    if (end == std::string::npos || line.compare(0, end, name) != 0 || end != name.size()) {
      continue;
    }
    size_t space = line.rfind(' ');
    std::string labels = line.substr(end, space - end);
    bool all = std::all_of(label_parts.begin(), label_parts.end(), [&](const std::string& part) {
      return labels.find(part) != std::string::npos;
    });
    if (all) sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

std::set<std::string> FamilyNames(const std::string& exposition) {
  std::set<std::string> names;
  for (const std::string& line : Lines(exposition)) {
    std::istringstream words(line);
    std::string hash, type, name;
    if (words >> hash >> type >> name && hash == "#" && type == "TYPE") names.insert(name);
  }
  return names;
}

std::set<std::string> ContractFamilies(const std::set<std::string>& sources) {
  std::set<std::string> names;
  std::ifstream in(std::string(UDMG_SOURCE_DIR) + "/metrics/metric_names.txt");
  EXPECT_TRUE(in.good()) << "metrics/metric_names.txt is missing";
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, type, labels, source;
    if (words >> name >> type >> labels >> source && sources.count(source) != 0) {
      names.insert(name);
    }
  }
  return names;
}

std::vector<std::string> SecretsOf(const UdmgServer& server) {
  std::vector<std::string> secrets{server.root_key(), "demo-secret-"};
  for (const char* sql :
       {"SELECT k3 FROM udmg_master_keys", "SELECT fingerprint FROM udmg_root_keys",
        "SELECT wrapped_key FROM udmg_root_keys WHERE wrapped_key IS NOT NULL"}) {
    for (const std::string& value : Lines(server.Exec(sql))) {
      if (!value.empty()) secrets.push_back(value);
    }
  }
  return secrets;
}

void ExpectNoSecretIn(const std::string& text, const std::vector<std::string>& secrets,
                      const std::string& where) {
  std::string lower = Lower(text);
  for (const std::string& secret : secrets) {
    EXPECT_EQ(lower.find(Lower(secret)), std::string::npos)
        << where << " holds key material or a plaintext (" << secret.size() << " characters)";
  }
}

void CorruptDemoValue(const UdmgServer& server, int id) {
  server.Exec("UPDATE credentials SET secret = 'udmg:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' "
              "WHERE id = " + std::to_string(id));
}

}  // namespace udmg::testing
