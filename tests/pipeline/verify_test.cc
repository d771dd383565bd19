// pipeline::Verify: decrypts every registered value and reports per column and version.
#include "pipeline/verify.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/pipeline/library_fixture.h"

namespace udmg::testing {
namespace {

using pipeline::Verify;
using pipeline::VerifyOptions;
using pipeline::VerifyReport;

class VerifyTest : public LibraryTest {};

TEST_P(VerifyTest, CountsValuesPerVersionAndPlaintext) {
  InsertRows({{1, EncryptUnderActive("a")}, {2, EncryptUnderActive("b")}, {3, "legacy"},
              {4, "null soon"}});
  SetRawValue(4, std::nullopt);
  RotateMasterKey();
  InsertRows({{5, EncryptUnderActive("c")}});
  auto client = OpenClient();
  VerifyOptions options;
  options.batch_size = 2;
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*client, options));
  ASSERT_EQ(report.columns.size(), 1u);
  const auto& column = report.columns[0];
  EXPECT_EQ(column.column, Secrets());
  EXPECT_EQ(column.ok_by_version, (std::map<uint32_t, uint64_t>{{1, 2}, {2, 1}}));
  EXPECT_EQ(column.plaintext, 1u);
  EXPECT_TRUE(column.failed_by_version.empty());
  EXPECT_EQ(report.ok(), 3u);
  EXPECT_EQ(report.failed(), 0u);
  EXPECT_EQ(report.plaintext(), 1u);
}

TEST_P(VerifyTest, ReportsFailuresByVersionWithExampleKeysAndWritesNothing) {
  InsertEncryptedRows(14);
  for (int64_t id = 1; id <= 12; ++id) {
    std::string value = *RawValue(id);
    value[value.size() - 5] = value[value.size() - 5] == 'A' ? 'B' : 'A';
    SetRawValue(id, value);
  }
  SetRawValue(13, "udmg:v1:!!!");  // bad base64 under a good prefix
  SetRawValue(14, "udmg:");        // no version at all
  std::vector<std::string> before;
  for (int64_t id = 1; id <= 14; ++id) before.push_back(*RawValue(id));

  auto client = OpenClient();
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*client, {}));
  const auto& column = report.columns.at(0);
  EXPECT_EQ(report.failed(), 14u);
  EXPECT_EQ(report.ok(), 0u);
  ASSERT_TRUE(column.failed_by_version.contains(1));
  const auto& v1 = column.failed_by_version.at(1);
  EXPECT_EQ(v1.count, 13u);
  EXPECT_EQ(v1.by_class.at("decryption_failed"), 12u);
  EXPECT_EQ(v1.by_class.at("malformed"), 1u);
  ASSERT_EQ(v1.example_keys.size(), 10u);
  EXPECT_EQ(v1.example_keys.front(), db::RowKey{1});
  EXPECT_EQ(v1.example_keys.back(), db::RowKey{10});
  ASSERT_TRUE(column.failed_by_version.contains(0));
  EXPECT_EQ(column.failed_by_version.at(0).count, 1u);
  EXPECT_EQ(column.failed_by_version.at(0).example_keys, std::vector<db::RowKey>{db::RowKey{14}});

  for (int64_t id = 1; id <= 14; ++id) EXPECT_EQ(*RawValue(id), before[id - 1]);
}

TEST_P(VerifyTest, EmptyTableVerifiesClean) {
  auto client = OpenClient();
  ASSERT_OK_AND_ASSIGN(VerifyReport report, Verify(*client, {}));
  ASSERT_EQ(report.columns.size(), 1u);
  EXPECT_EQ(report.ok() + report.failed() + report.plaintext(), 0u);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(VerifyTest);

}  // namespace
}  // namespace udmg::testing
