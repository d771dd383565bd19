// Internal to engine/: RAII owners for OpenSSL handles (as AWS-LC's bssl::UniquePtr) and the
// process-wide cipher fetches (OpenSSL 3 look-ups are costly; fetched ciphers are immutable and
// safe to share between threads).
#pragma once

#include <openssl/evp.h>

#include <memory>

namespace udmg::internal {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct CipherDeleter {
  void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;

// Fetched once per process (thread-safe static initialisation); nullptr if the provider lacks it.
const EVP_CIPHER* Aes256Gcm();
const EVP_CIPHER* Aes128Cbc();

}  // namespace udmg::internal
