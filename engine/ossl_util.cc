#include "engine/ossl_util.h"

namespace udmg::internal {

const EVP_CIPHER* Aes256Gcm() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  return cipher.get();
}

const EVP_CIPHER* Aes128Cbc() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr));
  return cipher.get();
}

}  // namespace udmg::internal
