// CleansingAllocator (engine/secret.h) on OpenSSL's secure heap: key buffers land in the arena
// while it has room, fall back to the ordinary heap when it is full or the block is too big, and
// either way are wiped and returned to the heap they came from. Each test binary run is its own
// process (ctest), so the arena this file initialises is its own.
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <gtest/gtest.h>

#include <vector>

#include "engine/secret.h"

namespace udmg {
namespace {

constexpr size_t kArena = 16 * 1024;

class SecureHeapTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 1: locked, 2: made but mlock refused; both are the secure heap.
    ASSERT_NE(CRYPTO_secure_malloc_init(kArena, 16), 0);
  }
};

TEST_F(SecureHeapTest, KeyBytesLandInTheSecureHeap) {
  const size_t used_before = CRYPTO_secure_used();
  {
    SecretBytes key(32, 0x5a);
    SecretString hex(64, 'f');
    EXPECT_TRUE(CRYPTO_secure_allocated(key.data()));
    EXPECT_TRUE(CRYPTO_secure_allocated(hex.data()));
    EXPECT_GT(CRYPTO_secure_used(), used_before);
  }
  EXPECT_EQ(CRYPTO_secure_used(), used_before) << "freed blocks go back to the arena";
}

TEST_F(SecureHeapTest, ABlockLargerThanTheArenaFallsBackWithoutAnOpenSslError) {
  ERR_clear_error();
  SecretBytes big(kArena * 2, 0x11);
  EXPECT_FALSE(CRYPTO_secure_allocated(big.data()));
  EXPECT_EQ(big[kArena], 0x11);
  EXPECT_EQ(ERR_peek_error(), 0u) << "a fallback must not leave an error on OpenSSL's queue";
}

TEST_F(SecureHeapTest, AFullArenaFallsBackAndTakesBlocksAgainOnceFreed) {
  ERR_clear_error();
  std::vector<SecretBytes> keys;
  // Fill the arena with 1 KiB blocks until one comes from the ordinary heap.
  while (keys.size() < 2 * kArena / 1024) {
    keys.emplace_back(1024, 0x22);
    if (!CRYPTO_secure_allocated(keys.back().data())) break;
  }
  ASSERT_FALSE(keys.empty());
  EXPECT_FALSE(CRYPTO_secure_allocated(keys.back().data())) << "the arena never filled";
  EXPECT_GT(keys.size(), 1u);
  EXPECT_EQ(ERR_peek_error(), 0u);
  keys.clear();  // every block back where it came from (ASan and the arena would both complain)
  SecretBytes again(1024);
  EXPECT_TRUE(CRYPTO_secure_allocated(again.data()));
}

TEST_F(SecureHeapTest, GrowingMovesTheBytesAndKeepsThemWhole) {
  SecretBytes text;
  for (int i = 0; i < 3000; ++i) text.push_back(static_cast<uint8_t>(i));
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(text[i], static_cast<uint8_t>(i));
}

}  // namespace
}  // namespace udmg
