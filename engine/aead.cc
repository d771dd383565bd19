#include "engine/aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

#include "engine/ossl_util.h"

namespace udmg {
namespace {

constexpr size_t kAes256KeySize = 32;

Error DecryptionFailed() { return Error{ErrorCode::kCorruptValue, "decryption failed"}; }

Error OpenSslFailure(const char* what) {
  return Error{ErrorCode::kInternal,
               std::string("OpenSSL AES-256-GCM ") + what +
                   " failed: check the OpenSSL 3 installation (default provider)"};
}

bool FitsInt(size_t size) { return size <= static_cast<size_t>(INT32_MAX); }

// The tag through the context's parameters rather than EVP_CIPHER_CTX_ctrl: under OpenSSL 3 the
// ctrl form ends in the same parameter call after extra work, about 40 ns of a 64-byte
// re-encryption (docs/performance.md).
bool GetTag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kGcmTagSize),
      OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx, params) == 1;
}

bool SetTag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kGcmTagSize),
      OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

}  // namespace

// One context per direction with the key schedule already in place: a call only sets the IV.
struct AesGcm::Contexts {
  internal::CipherCtxPtr encrypt;
  internal::CipherCtxPtr decrypt;
};

AesGcm::AesGcm(std::unique_ptr<Contexts> contexts) : contexts_(std::move(contexts)) {}
AesGcm::~AesGcm() = default;

Result<std::unique_ptr<AesGcm>> AesGcm::Create(std::span<const uint8_t> key) {
  if (key.size() != kAes256KeySize) {
    return Error{ErrorCode::kBadKey,
                 "an AES-256-GCM key must be 32 bytes; got " + std::to_string(key.size())};
  }
  const EVP_CIPHER* cipher = internal::Aes256Gcm();
  if (cipher == nullptr) return OpenSslFailure("cipher fetch");
  auto contexts = std::make_unique<Contexts>();
  contexts->encrypt.reset(EVP_CIPHER_CTX_new());
  contexts->decrypt.reset(EVP_CIPHER_CTX_new());
  if (!contexts->encrypt || !contexts->decrypt) return OpenSslFailure("context allocation");
  // The default GCM IV length is 12 bytes (kGcmNonceSize), so no IV-length control is needed.
  if (EVP_EncryptInit_ex2(contexts->encrypt.get(), cipher, key.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(contexts->decrypt.get(), cipher, key.data(), nullptr, nullptr) != 1) {
    return OpenSslFailure("key setup");
  }
  return std::unique_ptr<AesGcm>(new AesGcm(std::move(contexts)));
}

Status AesGcm::Seal(std::span<const uint8_t, kGcmNonceSize> nonce, std::span<const uint8_t> aad,
                    std::span<const uint8_t> plaintext, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  out.resize(start + plaintext.size() + kGcmTagSize);
  return SealTo(nonce, aad, plaintext, out.data() + start);
}

Status AesGcm::SealTo(std::span<const uint8_t, kGcmNonceSize> nonce, std::span<const uint8_t> aad,
                      std::span<const uint8_t> plaintext, uint8_t* out) {
  if (!FitsInt(aad.size()) || !FitsInt(plaintext.size())) {
    return Error{ErrorCode::kBadInput, "value too large to encrypt (limit 2 GiB)"};
  }
  EVP_CIPHER_CTX* ctx = contexts_->encrypt.get();
  int written = 0;
  if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
    return OpenSslFailure("nonce setup");
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &written, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslFailure("AAD");
  }
  int ciphertext_size = 0;
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx, out, &ciphertext_size, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslFailure("encryption");
  }
  if (EVP_EncryptFinal_ex(ctx, out + ciphertext_size, &written) != 1) {
    return OpenSslFailure("encryption");
  }
  if (!GetTag(ctx, out + plaintext.size())) return OpenSslFailure("tag");
  return Status::Ok();
}

Result<SecretBytes> AesGcm::Open(std::span<const uint8_t, kGcmNonceSize> nonce,
                                 std::span<const uint8_t> aad, std::span<const uint8_t> sealed) {
  SecretBytes plaintext;
  UDMG_RETURN_IF_ERROR(OpenInto(nonce, aad, sealed, plaintext));
  return plaintext;
}

Status AesGcm::OpenInto(std::span<const uint8_t, kGcmNonceSize> nonce,
                        std::span<const uint8_t> aad, std::span<const uint8_t> sealed,
                        SecretBytes& plaintext) {
  // Whatever happens below, a failure leaves no (unauthenticated) plaintext behind.
  auto fail = [&plaintext](Error error) -> Status {
    Wipe(plaintext.data(), plaintext.size());
    plaintext.clear();
    return error;
  };
  if (sealed.size() < kGcmTagSize) return fail(DecryptionFailed());
  if (!FitsInt(aad.size()) || !FitsInt(sealed.size())) return fail(DecryptionFailed());
  const size_t ciphertext_size = sealed.size() - kGcmTagSize;
  // OSSL_PARAM takes a non-const pointer: give it a copy.
  std::array<uint8_t, kGcmTagSize> tag;
  std::copy(sealed.end() - kGcmTagSize, sealed.end(), tag.begin());

  EVP_CIPHER_CTX* ctx = contexts_->decrypt.get();
  plaintext.resize(ciphertext_size);
  int written = 0;
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
    return fail(OpenSslFailure("nonce setup"));
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx, nullptr, &written, aad.data(), static_cast<int>(aad.size())) != 1) {
    return fail(DecryptionFailed());
  }
  int plaintext_size = 0;  // GCM is a stream mode: all of it comes out of Update
  if (ciphertext_size != 0 &&
      EVP_DecryptUpdate(ctx, plaintext.data(), &plaintext_size, sealed.data(),
                        static_cast<int>(ciphertext_size)) != 1) {
    return fail(DecryptionFailed());
  }
  if (!SetTag(ctx, tag.data())) return fail(DecryptionFailed());
  // Final checks the tag (GCM outputs no bytes here).
  std::array<uint8_t, kGcmTagSize> no_output;
  if (EVP_DecryptFinal_ex(ctx, no_output.data(), &written) != 1) {
    return fail(DecryptionFailed());
  }
  return Status::Ok();
}

}  // namespace udmg
