#include "engine/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace udmg {

void Wipe(void* data, size_t size) {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

namespace internal {

void* AllocateSecret(size_t bytes) {
  if (bytes != 0 && CRYPTO_secure_malloc_initialized()) {
    // file = NULL, line = 0: a full arena returns NULL without pushing an error on OpenSSL's
    // queue (OPENSSL_secure_malloc would), which a later ERR_get_error would misreport.
    if (void* block = CRYPTO_secure_malloc(bytes, nullptr, 0)) return block;
  }
  return ::operator new(bytes);
}

void FreeSecret(void* block, size_t bytes) noexcept {
  if (block == nullptr) return;
  // CRYPTO_secure_allocated is a lock-free range check on the arena.
  if (CRYPTO_secure_allocated(block)) {
    CRYPTO_secure_clear_free(block, bytes, nullptr, 0);  // wipes the whole block, then frees it
    return;
  }
  Wipe(block, bytes);
  ::operator delete(block);
}

}  // namespace internal

bool SafeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SecretBytes RandomSecret(size_t size) {
  SecretBytes bytes(size);
  if (size != 0 && RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) {
    // No key may come from anything weaker than the CSPRNG: stop rather than degrade.
    std::fputs("udmg: fatal: OpenSSL RAND_bytes failed; cannot make key material\n", stderr);
    std::abort();
  }
  return bytes;
}

}  // namespace udmg
