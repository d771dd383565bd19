#include "engine/secret.h"

#include <gtest/gtest.h>

#include <array>
#include <set>

namespace udmg {
namespace {

TEST(SecretTest, SafeEqualsComparesContentAndSize) {
  const std::array<uint8_t, 4> a{1, 2, 3, 4};
  const std::array<uint8_t, 4> b{1, 2, 3, 4};
  const std::array<uint8_t, 4> c{1, 2, 3, 5};
  const std::array<uint8_t, 3> shorter{1, 2, 3};
  EXPECT_TRUE(SafeEquals(a, b));
  EXPECT_FALSE(SafeEquals(a, c));
  EXPECT_FALSE(SafeEquals(a, shorter));
  EXPECT_TRUE(SafeEquals(std::span<const uint8_t>(), std::span<const uint8_t>()));
  EXPECT_FALSE(SafeEquals(a, std::span<const uint8_t>()));
}

TEST(SecretTest, SafeEqualsSeesEveryByte) {
  std::array<uint8_t, 32> a{};
  for (size_t i = 0; i < a.size(); ++i) {
    std::array<uint8_t, 32> b{};
    b[i] = 0x80;
    EXPECT_FALSE(SafeEquals(a, b)) << "difference at byte " << i;
  }
}

TEST(SecretTest, WipeZeroesMemory) {
  std::array<uint8_t, 48> buffer;
  buffer.fill(0xAB);
  Wipe(buffer.data(), buffer.size());
  for (uint8_t byte : buffer) EXPECT_EQ(byte, 0);
  Wipe(nullptr, 0);  // allowed, does nothing
}

TEST(SecretTest, RandomSecretHasTheSizeAskedAndVaries) {
  EXPECT_TRUE(RandomSecret(0).empty());
  std::set<std::vector<uint8_t>> seen;
  for (int i = 0; i < 16; ++i) {
    const SecretBytes key = RandomSecret(32);
    ASSERT_EQ(key.size(), 32u);
    seen.emplace(key.begin(), key.end());
  }
  EXPECT_EQ(seen.size(), 16u) << "RandomSecret repeated a 32-byte value";
}

TEST(SecretTest, SecretBytesBehavesAsAVector) {
  SecretBytes bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<uint8_t>(i));  // regrows, wipes old
  ASSERT_EQ(bytes.size(), 1000u);
  EXPECT_EQ(bytes[999], static_cast<uint8_t>(999));
  SecretString text(40, 'k');
  EXPECT_EQ(text.size(), 40u);
}

TEST(SecretTest, ByteAndTextViewsAlias) {
  const std::string_view text = "abc";
  const auto bytes = AsBytes(text);
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(bytes[0], 'a');
  EXPECT_EQ(AsText(bytes), text);
}

}  // namespace
}  // namespace udmg
