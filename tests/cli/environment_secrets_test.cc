// TakeSecretsFromEnvironment / SecretFromEnvironment (cli/environment_secrets.h). ctest runs each
// test in a process of its own, so what one test takes does not leak into another. The
// /proc/PID/environ side is checked on the real binary (tests/e2e/process_hygiene_test.cc).
#include "cli/environment_secrets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace udmg::cli {
namespace {

constexpr char kName[] = "UDMG_TEST_ENVIRONMENT_SECRET";
constexpr char kValue[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string Text(const SecretBytes& bytes) { return std::string(AsText(bytes)); }

TEST(EnvironmentSecretsTest, TakenValueLeavesTheEnvironmentAndItsBytesAreWiped) {
  ASSERT_EQ(setenv(kName, kValue, 1), 0);
  char* held = std::getenv(kName);
  ASSERT_NE(held, nullptr);
  const size_t size = std::strlen(held);
  TakeSecretsFromEnvironment({kName});
  EXPECT_EQ(std::getenv(kName), nullptr) << "a child process would inherit it";
  for (size_t i = 0; i < size; ++i) {
    ASSERT_EQ(held[i], '\0') << "byte " << i << " of the environment's copy is not wiped";
  }
  std::optional<SecretBytes> taken = SecretFromEnvironment(kName);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(Text(*taken), kValue);
  EXPECT_EQ(Text(*SecretFromEnvironment(kName)), kValue) << "read as often as needed";
}

TEST(EnvironmentSecretsTest, UnsetWhenTakenStaysUnset) {
  unsetenv(kName);
  TakeSecretsFromEnvironment({kName});
  ASSERT_EQ(setenv(kName, kValue, 1), 0);  // set later: not the process's input
  EXPECT_FALSE(SecretFromEnvironment(kName).has_value());
}

TEST(EnvironmentSecretsTest, NotTakenIsReadFromTheEnvironmentAndLeftThere) {
  ASSERT_EQ(setenv(kName, "as it is now", 1), 0);
  EXPECT_EQ(Text(*SecretFromEnvironment(kName)), "as it is now");
  EXPECT_NE(std::getenv(kName), nullptr);
  unsetenv(kName);
  EXPECT_FALSE(SecretFromEnvironment(kName).has_value());
}

TEST(EnvironmentSecretsTest, AnEmptyValueIsSetNotMissing) {
  ASSERT_EQ(setenv(kName, "", 1), 0);
  TakeSecretsFromEnvironment({kName});
  std::optional<SecretBytes> taken = SecretFromEnvironment(kName);
  ASSERT_TRUE(taken.has_value());
  EXPECT_TRUE(taken->empty());
}

}  // namespace
}  // namespace udmg::cli
