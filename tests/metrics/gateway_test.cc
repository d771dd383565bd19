// Pushgateway client: grouping-key encoding, URL validation, connection errors, and a real
// Pushgateway receiving Push (replace the group), PushAdd (replace only the pushed families)
// and Delete.
#include "metrics/gateway.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/registry.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace udmg::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(GroupingKeyTest, EncodesBase64UrlAsRfc4648) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg==");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8=");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8=");  // url-safe alphabet
}

TEST(GroupingKeyTest, EscapesValuesThePushgatewayWay) {
  EXPECT_EQ(GroupingKeySegment("instance", "db-1.example"), "instance/db-1.example");
  EXPECT_EQ(GroupingKeySegment("instance", "a b%"), "instance/a%20b%25");
  EXPECT_EQ(GroupingKeySegment("path", "/var/tmp"), "path@base64/L3Zhci90bXA=");
  EXPECT_EQ(GroupingKeySegment("instance", ""), "instance@base64/=");
}

TEST(GatewayTest, BuildsTheGroupPath) {
  auto gateway = Gateway::Create("http://push.example:9091/prefix/", "udmg_sweep",
                                 Gateway::GetInstanceLabel("db1"));
  ASSERT_TRUE(gateway.ok()) << gateway.error().message;
  EXPECT_EQ((*gateway)->group_path(), "/metrics/job/udmg_sweep/instance/db1");
  EXPECT_FALSE(Gateway::Hostname().empty());
}

TEST(GatewayTest, RejectsBadUrlsJobsAndLabels) {
  for (const char* bad : {"", "push:9091", "https://push:9091", "http://", "http://:9091",
                          "http://push:0", "http://push:x", "http://u:p@push:9091",
                          "http://push:9091/a?b"}) {
    auto gateway = Gateway::Create(bad, "udmg_sweep");
    ASSERT_FALSE(gateway.ok()) << bad;
    EXPECT_EQ(gateway.error().code, ErrorCode::kBadInput);
    EXPECT_EQ(gateway.error().message.find('\n'), std::string::npos);
  }
  EXPECT_FALSE(Gateway::Create("http://push:9091", "").ok());
  EXPECT_FALSE(Gateway::Create("http://push:9091", "j", {{"bad-name", "v"}}).ok());
  EXPECT_FALSE(Gateway::Create("http://push:9091", "j", {{"job", "v"}}).ok());
}

TEST(GatewayTest, ConnectionRefusedIsACleanError) {
  const int port = testing::FreePort();  // nothing listens there
  auto gateway = Gateway::Create("http://127.0.0.1:" + std::to_string(port), "udmg_sweep");
  ASSERT_TRUE(gateway.ok());
  for (const Status& status : {(*gateway)->Push(), (*gateway)->PushAdd(), (*gateway)->Delete()}) {
    EXPECT_STATUS(status, kBadInput,
                  "cannot reach the pushgateway at http://127.0.0.1:" + std::to_string(port));
  }
}

// A registry holding one gauge series: `name`{`labels`} = `value`.
std::shared_ptr<Registry> RegistryWithGauge(const std::string& name, const std::string& help,
                                            const Labels& labels, double value) {
  auto registry = std::make_shared<Registry>();
  auto gauge = BuildGauge().Name(name).Help(help).Register(*registry);
  EXPECT_TRUE(gauge.ok()) << gauge.error().message;
  if (gauge.ok()) (*gauge)->Add(labels).Set(value);
  return registry;
}

class PushgatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UDMG_REQUIRE_TOOL(testing::kPushgateway);
    port_ = testing::FreePort();
    pushgateway_ = testing::ChildProcess::Start(
        // Debian defaults --persistence.file to /var/lib/prometheus/pushgateway.data, shared by
        // every instance: empty keeps this one in memory, isolated from other runs.
        {testing::kPushgateway, "--persistence.file=",
         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        dir_.File("pushgateway.log"));
    ASSERT_NE(pushgateway_, nullptr);
    ASSERT_TRUE(testing::PollUntil([&] {
      auto response = testing::HttpGet(port_, "/-/ready");
      return response && response->status == 200;
    })) << pushgateway_->Log();
  }
  void TearDown() override { pushgateway_.reset(); }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // A gateway to this Pushgateway (below `path`, which it may not serve) that pushes `registry`
  // to the group of `job` and `labels`: job udmg_sweep and instance db1 unless a test says.
  Result<std::unique_ptr<Gateway>> GatewayPushing(
      const std::shared_ptr<Registry>& registry, const std::string& job = "udmg_sweep",
      const Labels& labels = Gateway::GetInstanceLabel("db1"), const std::string& path = "") const {
    UDMG_ASSIGN_OR_RETURN(std::unique_ptr<Gateway> gateway,
                          Gateway::Create(Url() + path, job, labels));
    gateway->RegisterCollectable(registry);
    return gateway;
  }
  std::string Scrape() const {
    auto response = testing::HttpGet(port_, "/metrics");
    return response ? response->body : "";
  }

  ::udmg::testing::TempDir dir_;
  int port_ = 0;
  std::unique_ptr<testing::ChildProcess> pushgateway_;
};

TEST_F(PushgatewayTest, PushAddKeepsOtherFamiliesAndPushReplacesTheGroup) {
  auto full = std::make_shared<Registry>();
  auto rows = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows.").Register(*full);
  auto success = BuildGauge().Name("udmg_last_success_timestamp_seconds").Help("Success.")
                     .Register(*full);
  ASSERT_TRUE(rows.ok() && success.ok());
  (*rows)->Add({{"result", "migrated"}}).Increment(10);
  (*success)->Add({}).Set(1712345678);

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Gateway> gateway, GatewayPushing(full));
  ASSERT_OK(gateway->Push());
  EXPECT_THAT(Scrape(), HasSubstr("udmg_last_success_timestamp_seconds{instance=\"db1\","
                                  "job=\"udmg_sweep\"} 1.712345678e+09"));

  // A failed run pushes its rows but no success time: PushAdd keeps the previous one.
  auto failed_run = std::make_shared<Registry>();
  auto failed_rows = BuildCounter().Name("udmg_reencrypt_rows_total").Help("Rows.")
                         .Register(*failed_run);
  (*failed_rows)->Add({{"result", "failed"}}).Increment(3);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Gateway> add_gateway, GatewayPushing(failed_run));
  ASSERT_OK(add_gateway->PushAdd());
  std::string scraped = Scrape();
  EXPECT_THAT(scraped, HasSubstr("udmg_last_success_timestamp_seconds{instance=\"db1\""));
  EXPECT_THAT(scraped, HasSubstr("udmg_reencrypt_rows_total{instance=\"db1\",job=\"udmg_sweep\","
                                 "result=\"failed\"} 3"));
  EXPECT_THAT(scraped, Not(HasSubstr("result=\"migrated\"")))
      << "PushAdd replaces the families it pushes";

  // Push (PUT) replaces the whole group: the success time goes.
  ASSERT_OK(add_gateway->Push());
  scraped = Scrape();
  EXPECT_THAT(scraped, Not(HasSubstr("udmg_last_success_timestamp_seconds{")));
  EXPECT_THAT(scraped, HasSubstr("result=\"failed\"} 3"));

  // The Pushgateway accepts a delete (202) and applies it a moment later.
  ASSERT_OK(add_gateway->Delete());
  EXPECT_TRUE(testing::PollUntil(
      [&] { return Scrape().find("udmg_reencrypt_rows_total{") == std::string::npos; }))
      << Scrape();
}

TEST_F(PushgatewayTest, Base64GroupingValuesRoundTrip) {
  auto registry = RegistryWithGauge("udmg_root_key_active_version", "K0.", {}, 2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Gateway> gateway,
                       GatewayPushing(registry, "udmg/odd job", {{"instance", "rack/7 db"}}));
  ASSERT_OK(gateway->Push());
  EXPECT_THAT(Scrape(), HasSubstr("udmg_root_key_active_version{instance=\"rack/7 db\","
                                  "job=\"udmg/odd job\"} 2"));
}

TEST_F(PushgatewayTest, ANon2xxReplyIsAnErrorWithTheCode) {
  auto registry = RegistryWithGauge("udmg_x", "x", {}, 1);
  // A prefix the Pushgateway does not serve: it answers 404.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Gateway> gateway,
                       GatewayPushing(registry, "udmg_sweep", {}, "/not-a-pushgateway-prefix"));
  EXPECT_STATUS(gateway->PushAdd(), kInternal, "answered 404");
}

// Documents what the CLI and the alerts must expect: the grouping key's job replaces a series'
// own `job` label, so job="sweep" pushed under job udmg_sweep reads job="udmg_sweep".
TEST_F(PushgatewayTest, TheGroupingJobOverridesTheSeriesJobLabel) {
  auto registry =
      RegistryWithGauge("udmg_last_success_timestamp_seconds", "Success.", {{"job", "sweep"}}, 5);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Gateway> gateway, GatewayPushing(registry));
  ASSERT_OK(gateway->PushAdd());
  EXPECT_THAT(Scrape(), HasSubstr("udmg_last_success_timestamp_seconds{instance=\"db1\","
                                  "job=\"udmg_sweep\"} 5"));
}

}  // namespace
}  // namespace udmg::metrics
