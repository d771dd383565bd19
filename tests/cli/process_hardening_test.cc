// HardenProcess (cli/process_hardening.h) on this very process: after it, no core file and not
// dumpable; key buffers come from the secure heap (but in an AddressSanitizer build, which keeps
// them on the instrumented heap). ctest runs each test in a process of its own.
#include "cli/process_hardening.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include "engine/secret.h"

namespace udmg::cli {
namespace {

TEST(ProcessHardeningTest, NoCoreFileAndNotDumpable) {
  HardeningReport report = HardenProcess();
  EXPECT_TRUE(report.core_dumps_off);
  EXPECT_TRUE(report.not_dumpable);
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  rlimit core{};
  ASSERT_EQ(getrlimit(RLIMIT_CORE, &core), 0);
  EXPECT_EQ(core.rlim_cur, 0u);
  EXPECT_EQ(core.rlim_max, 0u) << "the hard limit too, so nothing can raise it again";
}

// Outside an AddressSanitizer build a secure heap that is off is the defect itself: it fails.
TEST(ProcessHardeningTest, KeyBuffersComeFromTheSecureHeap) {
  HardeningReport report = HardenProcess();
  if (!kSecureHeapInThisBuild) {
    EXPECT_EQ(report.secure_heap, SecureHeapState::kOff);
    EXPECT_FALSE(CRYPTO_secure_malloc_initialized());
    SecretBytes key(32);
    EXPECT_FALSE(CRYPTO_secure_allocated(key.data())) << "ASan builds keep keys on its heap";
    return;
  }
  ASSERT_NE(report.secure_heap, SecureHeapState::kOff) << report.WarningLine();
  EXPECT_TRUE(CRYPTO_secure_malloc_initialized());
  EXPECT_GE(report.secure_heap_bytes, kSecureHeapMinBytes);
  EXPECT_LE(report.secure_heap_bytes, kSecureHeapBytes);
  SecretBytes key(32);
  EXPECT_TRUE(CRYPTO_secure_allocated(key.data()));
  EXPECT_EQ(report.secure_heap == SecureHeapState::kUnlocked, !report.refusals.empty());
}

TEST(ProcessHardeningTest, RefusalsMakeOneWarningLine) {
  HardeningReport report;
  EXPECT_EQ(report.WarningLine(), "");
  report.refusals = {"first refusal", "second refusal"};
  EXPECT_EQ(report.WarningLine(), "process hardening incomplete: first refusal; second refusal");
}

}  // namespace
}  // namespace udmg::cli
