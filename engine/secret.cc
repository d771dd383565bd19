#include "engine/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace udmg {

void Wipe(void* data, size_t size) {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

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
