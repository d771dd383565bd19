// Textfile output: content, mode, no temp left behind, atomic replacement under a polling reader,
// failures that leave the old file, and node_exporter's textfile collector reading it back.
#include "metrics/textfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "metrics/registry.h"
#include "metrics/text_serializer.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/temp_dir.h"

namespace udmg::metrics {
namespace {

using testing::ReadFile;
using ::udmg::testing::TempDir;

std::vector<std::string> DirectoryEntries(const std::filesystem::path& path) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// A registry with one gauge per label value, `series` series long, all set to `value`.
std::shared_ptr<Registry> MakeRegistry(int series, double value) {
  auto registry = std::make_shared<Registry>();
  auto family = BuildGauge().Name("udmg_key_values").Help("Values per column and version.")
                    .Register(*registry);
  for (int i = 0; i < series; ++i) {
    (*family)->Add({{"column", "t.c" + std::to_string(i)}, {"version", "3"}}).Set(value);
  }
  return registry;
}

TEST(TextfileTest, WritesTheSerializerOutputWithMode0644AndNoTempFile) {
  TempDir dir;
  const std::string path = dir.File("udmg.prom");
  auto registry = MakeRegistry(3, 7);
  const mode_t old_umask = umask(077);  // the file must still be readable by node_exporter
  const Status written = WriteTextfile(path, registry->Collect());
  umask(old_umask);
  ASSERT_TRUE(written.ok()) << written.message();
  EXPECT_EQ(ReadFile(path), TextSerializer().Serialize(registry->Collect()));
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
  EXPECT_EQ(DirectoryEntries(dir.path()), std::vector<std::string>{"udmg.prom"});
}

TEST(TextfileTest, AReaderNeverSeesAPartialFile) {
  TempDir dir;
  const std::string path = dir.File("udmg.prom");
  // Two large contents (hundreds of KB: a plain rewrite would be seen half-written).
  const std::string first = TextSerializer().Serialize(MakeRegistry(4000, 1)->Collect());
  const std::string second = TextSerializer().Serialize(MakeRegistry(5000, 2)->Collect());
  ASSERT_TRUE(WriteTextfileContent(path, first).ok());

  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string seen = ReadFile(path);
      if (seen != first && seen != second) ++bad_reads;
      ++reads;
    }
  });
  Status status;
  for (int i = 0; i < 200 && status.ok(); ++i) {
    status = WriteTextfileContent(path, i % 2 == 0 ? second : first);
  }
  done = true;
  reader.join();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(bad_reads.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(ReadFile(path), first);
  EXPECT_EQ(DirectoryEntries(dir.path()), std::vector<std::string>{"udmg.prom"});
}

TEST(TextfileTest, AMissingDirectoryIsBadInputAndCreatesNothing) {
  TempDir dir;
  const Status status = WriteTextfileContent(dir.File("missing/udmg.prom"), "x 1\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kBadInput);
  EXPECT_NE(status.message().find("missing/udmg.prom"), std::string::npos) << status.message();
  EXPECT_EQ(status.message().find('\n'), std::string::npos);
  EXPECT_TRUE(DirectoryEntries(dir.path()).empty());
}

TEST(TextfileTest, AFailedRenameRemovesTheTempFileAndLeavesTheTarget) {
  TempDir dir;
  // A non-empty directory at the target path: rename fails after the temp file is complete.
  const std::string path = dir.File("udmg.prom");
  std::filesystem::create_directory(path);
  testing::WriteFile(path + "/keep", "old");
  const Status status = WriteTextfileContent(path, "udmg_x 1\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kInternal);
  EXPECT_NE(status.message().find("rename"), std::string::npos) << status.message();
  EXPECT_EQ(DirectoryEntries(dir.path()), std::vector<std::string>{"udmg.prom"});
  EXPECT_EQ(ReadFile(path + "/keep"), "old");
}

TEST(TextfileTest, AnEmptyPathIsBadInput) {
  EXPECT_EQ(WriteTextfileContent("", "x 1\n").code(), ErrorCode::kBadInput);
}

class NodeExporterTest : public ::testing::Test {
 protected:
  void SetUp() override { UDMG_REQUIRE_TOOL(testing::kNodeExporter); }
  void TearDown() override { exporter_.reset(); }
  TempDir dir_;
  std::unique_ptr<testing::ChildProcess> exporter_;
};

TEST_F(NodeExporterTest, ServesTheTextfileValues) {
  const std::string textfiles = dir_.File("textfiles");
  std::filesystem::create_directory(textfiles);
  auto registry = std::make_shared<Registry>();
  auto success = BuildGauge().Name("udmg_last_success_timestamp_seconds")
                     .Help("Last run that migrated every value.").Register(*registry);
  auto duration = BuildHistogram().Name("udmg_reencrypt_batch_duration_seconds")
                      .Help("Time per batch.").Register(*registry);
  ASSERT_TRUE(success.ok() && duration.ok());
  (*success)->Add({{"job", "sweep"}}).Set(1712345678);
  (*duration)->Add({{"stage", "write"}}, BatchDurationBuckets()).Observe(0.3);
  ASSERT_TRUE(WriteTextfile(textfiles + "/udmg.prom", registry->Collect()).ok());

  const int port = testing::FreePort();
  exporter_ = testing::ChildProcess::Start(
      {testing::kNodeExporter, "--collector.disable-defaults", "--collector.textfile",
       "--collector.textfile.directory", textfiles, "--web.listen-address",
       "127.0.0.1:" + std::to_string(port)},
      dir_.File("node_exporter.log"));
  ASSERT_NE(exporter_, nullptr);
  std::string body;
  ASSERT_TRUE(testing::PollUntil([&] {
    auto response = testing::HttpGet(port, "/metrics");
    if (response && response->status == 200) body = response->body;
    return !body.empty();
  })) << exporter_->Log();
  EXPECT_NE(body.find("udmg_last_success_timestamp_seconds{job=\"sweep\"} 1.712345678e+09"),
            std::string::npos) << body;
  EXPECT_NE(body.find("udmg_reencrypt_batch_duration_seconds_bucket{stage=\"write\",le=\"0.5\"} 1"),
            std::string::npos) << body;
  EXPECT_NE(body.find("\nnode_textfile_scrape_error 0\n"), std::string::npos) << body;
}

}  // namespace
}  // namespace udmg::metrics
