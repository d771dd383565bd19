#include "engine/nonce_pool.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <set>

namespace udmg {
namespace {

using Nonce = std::array<uint8_t, NoncePool::kNonceSize>;

Nonce Take(NoncePool& pool) {
  Nonce nonce{};
  pool.Next(nonce);
  return nonce;
}

TEST(NoncePoolTest, NoncesAreDistinctAcrossRefills) {
  NoncePool pool;
  std::set<Nonce> seen;
  const size_t count = NoncePool::kNoncesPerRefill * 5 + 3;
  for (size_t i = 0; i < count; ++i) seen.insert(Take(pool));
  EXPECT_EQ(seen.size(), count);
  EXPECT_EQ(seen.count(Nonce{}), 0u) << "an all-zero (consumed) slot was handed out";
}

TEST(NoncePoolTest, TwoPoolsDoNotShareNonces) {
  NoncePool a, b;
  std::set<Nonce> seen;
  for (int i = 0; i < 32; ++i) {
    seen.insert(Take(a));
    seen.insert(Take(b));
  }
  EXPECT_EQ(seen.size(), 64u);
}

// After fork, the child must not hand out the nonces its parent had buffered.
TEST(NoncePoolTest, ChildProcessRefillsAfterFork) {
  NoncePool pool;
  (void)Take(pool);  // the buffer now holds kNoncesPerRefill - 1 unused nonces
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    const Nonce nonce = Take(pool);
    const bool written = write(fds[1], nonce.data(), nonce.size()) == ssize_t(nonce.size());
    close(fds[1]);
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  Nonce from_child{};
  const ssize_t n = read(fds[0], from_child.data(), from_child.size());
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(n, ssize_t(from_child.size()));
  EXPECT_NE(Take(pool), from_child) << "parent and child handed out the same nonce";
}

}  // namespace
}  // namespace udmg
