// The library names a setting in its own words and carries it in Error::setting; the CLI says
// the flag.
#include "cli/setting_flags.h"

#include <gtest/gtest.h>

namespace udmg::cli {
namespace {

TEST(SettingFlagsTest, TheLibrarysWordsBecomeTheFlag) {
  EXPECT_EQ(NameFlag("the run time must not be negative", "run_time"),
            "--run-time must not be negative");
  EXPECT_EQ(NameFlag("a batch write took 2.50 s, above the critical write latency 1.00 s",
                     "critical_write_latency"),
            "a batch write took 2.50 s, above --critical-write-latency 1.00 s");
}

TEST(SettingFlagsTest, EveryMentionIsNamed) {
  EXPECT_EQ(NameFlag("more values than the failure limit allows do not decrypt: fix them or "
                     "raise the failure limit",
                     "max_failures"),
            "more values than --max-failures allows do not decrypt: fix them or raise "
            "--max-failures");
}

TEST(SettingFlagsTest, AMessageWithoutTheWordsGetsTheFlagAfterIt) {
  EXPECT_EQ(NameFlag("the value is out of range", "lease"), "the value is out of range (--lease)");
}

TEST(SettingFlagsTest, NoSettingOrAnUnknownOneLeavesTheMessage) {
  EXPECT_EQ(NameFlag("the run time must not be negative", ""), "the run time must not be negative");
  EXPECT_EQ(NameFlag("the run time must not be negative", "no_such_setting"),
            "the run time must not be negative");
}

TEST(SettingFlagsTest, ALineThatMayNotMentionTheSettingIsLeftAsItIs) {
  EXPECT_EQ(ReplaceSettingWords("master version 2 dropped: not in the backup", "force"),
            "master version 2 dropped: not in the backup");
  EXPECT_EQ(ReplaceSettingWords("left out of the root history (by the force option)", "force"),
            "left out of the root history (by --force)");
}

}  // namespace
}  // namespace udmg::cli
