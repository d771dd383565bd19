#include "engine/nonce_pool.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/secret.h"

namespace udmg {
namespace {

std::atomic<uint64_t> fork_generation{1};

void BumpGenerationInChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

uint64_t CurrentGeneration() {
  static const bool registered = [] {
    if (pthread_atfork(nullptr, nullptr, &BumpGenerationInChild) != 0) {
      std::fputs("udmg: fatal: pthread_atfork failed; cannot guard GCM nonces across fork\n",
                 stderr);
      std::abort();
    }
    return true;
  }();
  (void)registered;
  return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

NoncePool::~NoncePool() { Wipe(buffer_.data(), buffer_.size()); }

void NoncePool::Refill() {
  if (RAND_bytes(buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    std::fputs("udmg: fatal: OpenSSL RAND_bytes failed; cannot make a GCM nonce\n", stderr);
    std::abort();
  }
  next_ = 0;
}

void NoncePool::Next(std::span<uint8_t, kNonceSize> out) {
  const uint64_t generation = CurrentGeneration();
  if (next_ == kNoncesPerRefill || generation != generation_) {
    Refill();
    generation_ = generation;
  }
  uint8_t* nonce = buffer_.data() + next_ * kNonceSize;
  std::memcpy(out.data(), nonce, kNonceSize);
  std::memset(nonce, 0, kNonceSize);  // handed out once only
  ++next_;
}

}  // namespace udmg
