// Internal to engine/: RAII owners for OpenSSL handles (as AWS-LC's bssl::UniquePtr) and the
// process-wide cipher fetches (OpenSSL 3 look-ups are costly; fetched ciphers are immutable and
// safe to share between threads).
#pragma once

#include <openssl/evp.h>

#include "base/unique_handle.h"

namespace udmg::internal {

using CipherCtxPtr = UniqueHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using CipherPtr = UniqueHandle<EVP_CIPHER, EVP_CIPHER_free>;

// Fetched once per process (thread-safe static initialisation); nullptr if the provider lacks it.
const EVP_CIPHER* Aes256Gcm();
const EVP_CIPHER* Aes128Cbc();

}  // namespace udmg::internal
