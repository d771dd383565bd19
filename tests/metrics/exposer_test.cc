// The HTTP exposer: real GETs with httplib's client, extra handlers, address errors, and a real
// Prometheus server scraping it and seeing a counter rise.
#include "metrics/exposer.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>

#include "metrics/registry.h"
#include "metrics/text_serializer.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/temp_dir.h"

namespace udmg::metrics {
namespace {

using testing::HttpGet;

std::unique_ptr<Exposer> StartOrDie(std::string_view address) {
  auto exposer = Exposer::Start(address);
  EXPECT_TRUE(exposer.ok()) << exposer.error().message;
  return exposer.ok() ? std::move(*exposer) : nullptr;
}

TEST(ListenAddressTest, ParsesHostPortForms) {
  auto v4 = ParseListenAddress("127.0.0.1:9100");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9100);
  auto any = ParseListenAddress(":0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "0.0.0.0");
  auto v6 = ParseListenAddress("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"", "9100", "host:", "host:port", "h:65536", "h:-1", "::1:80",
                          "[::1:80", "[]:80", "h:80x"}) {
    auto parsed = ParseListenAddress(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kBadInput);
  }
}

// Found by fuzz/listen_address_fuzzer (":07\0\0\0\n0"): the message echoed the address raw.
TEST(ListenAddressTest, MessageIsOneLineWhateverTheAddressHolds) {
  auto parsed = ParseListenAddress(std::string_view(":07\0\0\0\n0", 8));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos) << parsed.error().message;
  EXPECT_NE(parsed.error().message.find("':07\\x00\\x00\\x00\\x0a0'"), std::string::npos)
      << parsed.error().message;
  // A host that could never resolve is refused here, not at bind with the host in the message.
  for (std::string_view host : {"a\nb:80", "a b:80", "[::1\t]:80", "h\xc3\xa9:80"}) {
    EXPECT_FALSE(ParseListenAddress(host).ok()) << host;
  }
}

TEST(ExposerTest, ServesTheRegistryOnGetMetrics) {
  auto registry = std::make_shared<Registry>();
  auto rows = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows.").Register(*registry);
  ASSERT_TRUE(rows.ok());
  (*rows)->Add({{"result", "migrated"}}).Increment(42);
  auto exposer = StartOrDie("127.0.0.1:0");
  ASSERT_NE(exposer, nullptr);
  ASSERT_GT(exposer->port(), 0);
  EXPECT_EQ(exposer->MetricsUrl(),
            "http://127.0.0.1:" + std::to_string(exposer->port()) + "/metrics");
  exposer->RegisterCollectable(registry);

  auto response = HttpGet(exposer->port(), "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response->body, TextSerializer().Serialize(registry->Collect()));
  EXPECT_NE(response->body.find("udmg_reencrypt_rows_total{result=\"migrated\"} 42\n"),
            std::string::npos);
  testing::ExpectPromtoolAccepts(response->body);

  (*rows)->Add({{"result", "migrated"}}).Increment();
  EXPECT_NE(HttpGet(exposer->port(), "/metrics")->body.find("} 43\n"), std::string::npos);

  // A collectable that is gone is dropped, not scraped.
  registry.reset();
  response = HttpGet(exposer->port(), "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
}

TEST(ExposerTest, ServesAddedHandlersWithQueryAndBody) {
  auto exposer = StartOrDie("127.0.0.1:0");
  ASSERT_NE(exposer, nullptr);
  std::atomic<int> rate{0};
  exposer->AddHandler("POST", "/control/rate", [&](const HttpRequest& request) {
    auto value = request.params.find("value");
    if (value == request.params.end()) {
      return HttpReply{400, "application/json", R"({"ok":false})"};
    }
    rate = std::stoi(value->second);
    return HttpReply{200, "application/json", R"({"ok":true,"rate":)" + value->second + "}"};
  });
  exposer->AddHandler("POST", "/echo", [](const HttpRequest& request) {
    return HttpReply{200, "text/plain", request.body + request.Header("x-test")};
  });
  exposer->AddHandler("GET", "/boom", [](const HttpRequest&) -> HttpReply {
    throw std::runtime_error("exploded");
  });

  httplib::Client client("127.0.0.1", exposer->port());
  auto posted = client.Post("/control/rate?value=500", "", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200);
  EXPECT_EQ(posted->body, R"({"ok":true,"rate":500})");
  EXPECT_EQ(posted->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(rate.load(), 500);
  auto refused = client.Post("/control/rate", "", "text/plain");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  auto echoed = client.Post("/echo", {{"X-Test", "!"}}, "pause\n", "text/plain");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->body, "pause\n!");
  EXPECT_EQ(HttpGet(exposer->port(), "/control/rate")->status, 405);
  EXPECT_EQ(HttpGet(exposer->port(), "/nowhere")->status, 404);
  EXPECT_EQ(HttpGet(exposer->port(), "/boom")->status, 500);
  auto post_metrics = client.Post("/metrics", "", "text/plain");
  ASSERT_TRUE(post_metrics);
  EXPECT_EQ(post_metrics->status, 405);
}

TEST(ExposerTest, AnAddressInUseIsAConflict) {
  auto first = StartOrDie("127.0.0.1:0");
  ASSERT_NE(first, nullptr);
  auto second = Exposer::Start("127.0.0.1:" + std::to_string(first->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  EXPECT_EQ(second.error().message.find('\n'), std::string::npos);
}

TEST(ExposerTest, ABadAddressIsBadInput) {
  for (const char* bad : {"no-such-host.invalid:0", "192.0.2.1:0", "127.0.0.1:99999", "nonsense"}) {
    auto exposer = Exposer::Start(bad);
    ASSERT_FALSE(exposer.ok()) << bad;
    EXPECT_EQ(exposer.error().code, ErrorCode::kBadInput) << exposer.error().message;
    EXPECT_EQ(exposer.error().message.find('\n'), std::string::npos);
  }
}

TEST(ExposerTest, StopIsIdempotentAndClosesThePort) {
  auto exposer = StartOrDie("127.0.0.1:0");
  ASSERT_NE(exposer, nullptr);
  const int port = exposer->port();
  ASSERT_TRUE(HttpGet(port, "/metrics").has_value());
  exposer->Stop();
  exposer->Stop();
  EXPECT_FALSE(HttpGet(port, "/metrics").has_value());
  auto again = StartOrDie("127.0.0.1:" + std::to_string(port));  // the port is free again
  EXPECT_NE(again, nullptr);
}

TEST(ExposerTest, StartAndStopRepeatedlyNeverHangs) {
  for (int i = 0; i < 50; ++i) {
    auto exposer = StartOrDie("127.0.0.1:0");
    ASSERT_NE(exposer, nullptr);
  }
}

// A real Prometheus scrapes the exposer every second; its query API must see the counter rise.
class PrometheusScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override { UDMG_REQUIRE_TOOL(testing::kPrometheus); }
  void TearDown() override { prometheus_.reset(); }

  // The value of `query`'s first sample as text, "" when none yet.
  std::string Query(int port, const std::string& query) {
    auto response = HttpGet(port, "/api/v1/query?query=" + query);
    if (!response || response->status != 200) return "";
    auto json = nlohmann::json::parse(response->body, nullptr, false);
    if (json.is_discarded() || json["data"]["result"].empty()) return "";
    return json["data"]["result"][0]["value"][1].get<std::string>();
  }

  ::udmg::testing::TempDir dir_;
  std::unique_ptr<testing::ChildProcess> prometheus_;
};

TEST_F(PrometheusScrapeTest, PrometheusSeesTheCounterRise) {
  auto registry = std::make_shared<Registry>();
  auto rows = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows.").Register(*registry);
  ASSERT_TRUE(rows.ok());
  Counter& migrated = (*rows)->Add({{"result", "migrated"}});
  migrated.Increment(5);
  auto exposer = StartOrDie("127.0.0.1:0");
  ASSERT_NE(exposer, nullptr);
  exposer->RegisterCollectable(registry);

  const int port = testing::FreePort();
  testing::WriteFile(dir_.File("prometheus.yml"),
                     "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                     "scrape_configs:\n  - job_name: udmg\n    static_configs:\n"
                     "      - targets: ['127.0.0.1:" + std::to_string(exposer->port()) + "']\n");
  prometheus_ = testing::ChildProcess::Start(
      {testing::kPrometheus, "--config.file=" + dir_.File("prometheus.yml"),
       "--storage.tsdb.path=" + dir_.File("data"),
       "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      dir_.File("prometheus.log"));
  ASSERT_NE(prometheus_, nullptr);

  const std::string query = "udmg_reencrypt_rows_total%7Bresult%3D%22migrated%22%7D";
  ASSERT_TRUE(testing::PollUntil([&] { return Query(port, query) == "5"; }))
      << "Prometheus never saw 5; its log:\n" << prometheus_->Log();
  migrated.Increment(7);
  ASSERT_TRUE(testing::PollUntil([&] { return Query(port, query) == "12"; }))
      << "Prometheus never saw the counter rise to 12; its log:\n" << prometheus_->Log();
  EXPECT_EQ(Query(port, "up%7Bjob%3D%22udmg%22%7D"), "1");
}

}  // namespace
}  // namespace udmg::metrics
