// Random GCM nonces drawn from OpenSSL's CSPRNG in batches. RAND_bytes costs about twice an
// AES-GCM seal of a short value (DRBG locking and a getpid() fork check per call), so the value
// path takes 12-byte nonces from a buffer filled by one RAND_bytes call per kNoncesPerRefill.
//
// Fork safety: a child process must never reuse nonces its parent buffered. A pthread_atfork
// handler bumps a process-wide generation in the child; a pool filled under an older generation is
// discarded before its next nonce is handed out.
//
// Thread-safety: NOT thread-safe; one pool per ValueCipher (one per thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace udmg {

class NoncePool {
 public:
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kNoncesPerRefill = 64;

  NoncePool() = default;
  ~NoncePool();
  NoncePool(const NoncePool&) = delete;
  NoncePool& operator=(const NoncePool&) = delete;

  // Writes a fresh random nonce to `out`. Aborts if the CSPRNG fails (never a weak nonce).
  void Next(std::span<uint8_t, kNonceSize> out);

 private:
  void Refill();
  std::array<uint8_t, kNonceSize * kNoncesPerRefill> buffer_{};
  size_t next_ = kNoncesPerRefill;  // empty until the first use
  uint64_t generation_ = 0;         // fork generation the buffer was filled under
};

}  // namespace udmg
