// The crypto stage of re-encryption (ValueCipher::Decrypt of an old-version envelope, then
// ValueCipher::Encrypt under the active version) beside raw OpenSSL EVP AES-256-GCM loops measured
// in the same run: encrypt only, decrypt + encrypt, and decrypt + encrypt with base64 both ways
// (BM_RawEvpReencryptEnvelope: like for like with the stage). The "reinit" variant re-runs the
// full key setup per call, to show what keeping the context saves. The *Threads benchmarks give
// the stage's scaling over 1, 2 and all hardware threads.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_handle.h"
#include "engine/encoding.h"
#include "engine/keyring.h"
#include "engine/secret.h"
#include "engine/value_cipher.h"

namespace udmg {
namespace {

constexpr int64_t kNow = 1700000000;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr std::string_view kAad = "udmg:v1:";

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "crypto_bench: %s failed\n", what);
    std::abort();
  }
}

std::vector<uint8_t> Plaintext(size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  return bytes;
}

// Keyrings with master version 1 (active) and then versions 1 and 2 (2 active), as in a rotation.
struct Rotation {
  SecretBytes k0 = RandomSecret(32);
  std::shared_ptr<const Keyring> before, after;
  Rotation() {
    const KeyringRecords v1 = NewKeyringRecords(k0, RandomSecret(32), kNow);
    Result<KeyringRecords> v2 = RotateMasterKey(v1, k0, RandomSecret(32), kNow);
    Check(v2.ok(), "RotateMasterKey");
    Result<std::shared_ptr<const Keyring>> opened_before = Keyring::Open(v1, k0);
    Result<std::shared_ptr<const Keyring>> opened_after = Keyring::Open(*v2, k0);
    Check(opened_before.ok() && opened_after.ok(), "Keyring::Open");
    before = *opened_before;
    after = *opened_after;
  }
};

// The value size of a benchmark run: its first argument.
size_t ValueSize(const benchmark::State& state) { return static_cast<size_t>(state.range(0)); }

// The timed loop of every benchmark here: `one_value` once per iteration, its result kept from
// the optimiser, then throughput reported as one item and `size` bytes per iteration.
template <typename OneValue>
void MeasurePerValue(benchmark::State& state, size_t size, OneValue one_value) {
  for (auto _ : state) {
    auto result = one_value();
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}

// A value of `size` bytes encrypted under master v1 (bound to `location` if given): what the
// re-encryption stage reads.
std::string OldEnvelope(const Rotation& rotation, size_t size,
                        const ValueLocation* location = nullptr) {
  Result<std::string> envelope = ValueCipher(rotation.before).Encrypt(Plaintext(size), location);
  Check(envelope.ok(), "Encrypt under v1");
  return *std::move(envelope);
}

void BM_ReencryptStage(benchmark::State& state) {
  const size_t size = ValueSize(state);
  Rotation rotation;
  const std::string old_envelope = OldEnvelope(rotation, size);
  ValueCipher cipher(rotation.after);
  MeasurePerValue(state, size, [&] {
    Result<SecretBytes> plain = cipher.Decrypt(old_envelope);
    return cipher.Encrypt(*plain);
  });
}

// As the pipeline's crypto stage runs it (pipeline/flow_batch.cc): every plaintext decrypted into
// one reused wiped buffer, so the stage makes one allocation per value (the new envelope).
void BM_ReencryptStageReusedBuffer(benchmark::State& state) {
  const size_t size = ValueSize(state);
  Rotation rotation;
  const std::string old_envelope = OldEnvelope(rotation, size);
  ValueCipher cipher(rotation.after);
  SecretBytes plain;
  MeasurePerValue(state, size, [&] {
    Check(cipher.DecryptInto(old_envelope, plain).ok(), "DecryptInto");
    return cipher.Encrypt(plain);
  });
}

// Row binding (docs/security.md): the same stage on a bound column, as TransformBatch runs it —
// the row key's text and the AAD built per value. `from_bound` 0: unbound v1 to bound v2 (what
// the first sweep after `columns bind` does); 1: bound v1 to bound v2 (a rotation once bound).
// Read against BM_ReencryptStageReusedBuffer of the same run.
void BM_ReencryptStageRowBound(benchmark::State& state) {
  const size_t size = ValueSize(state);
  const bool from_bound = state.range(1) != 0;
  Rotation rotation;
  const std::string key_text = std::to_string(int64_t{123456789});
  const ValueLocation location{"credentials", "secret", key_text, 2};
  const ValueLocation* old_location = from_bound ? &location : nullptr;
  const std::string old_envelope = OldEnvelope(rotation, size, old_location);
  ValueCipher cipher(rotation.after);
  SecretBytes plain;
  int64_t key = 123456789;
  MeasurePerValue(state, size, [&] {
    const std::string row_key = std::to_string(key);  // per row, as in TransformBatch
    const ValueLocation here{location.table, location.column, row_key, location.bound_since};
    Check(cipher.DecryptInto(old_envelope, plain, old_location).ok(), "DecryptInto");
    return cipher.Encrypt(plain, &here);
  });
}

void BM_ValueCipherEncrypt(benchmark::State& state) {
  const size_t size = ValueSize(state);
  Rotation rotation;
  ValueCipher cipher(rotation.after);
  const std::vector<uint8_t> plain = Plaintext(size);
  MeasurePerValue(state, size, [&] { return cipher.Encrypt(plain); });
}

void BM_ValueCipherDecrypt(benchmark::State& state) {
  const size_t size = ValueSize(state);
  Rotation rotation;
  ValueCipher cipher(rotation.after);
  Result<std::string> envelope = cipher.Encrypt(Plaintext(size));
  Check(envelope.ok(), "Encrypt");
  MeasurePerValue(state, size, [&] { return cipher.Decrypt(*envelope); });
}

// ---- Raw OpenSSL baselines: contexts keyed once, only the IV set per call ----------------------

using Ctx = UniqueHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

struct RawGcm {
  UniqueHandle<EVP_CIPHER, EVP_CIPHER_free> cipher{
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr)};
  SecretBytes key = RandomSecret(32);
  Ctx encrypt{EVP_CIPHER_CTX_new()};
  Ctx decrypt{EVP_CIPHER_CTX_new()};
  std::array<uint8_t, kNonceSize> nonce{};
  RawGcm() {
    Check(cipher && encrypt && decrypt, "EVP setup");
    Check(EVP_EncryptInit_ex2(encrypt.get(), cipher.get(), key.data(), nullptr, nullptr) == 1 &&
              EVP_DecryptInit_ex2(decrypt.get(), cipher.get(), key.data(), nullptr, nullptr) == 1,
          "EVP key setup");
  }
  void NextNonce() { ++*reinterpret_cast<uint64_t*>(nonce.data()); }

  // out = ciphertext ‖ tag
  void Seal(const uint8_t* in, size_t size, uint8_t* out) {
    SealWith(nonce.data(), kAad, in, size, out);
  }
  void SealWith(const uint8_t* iv, std::string_view aad, const uint8_t* in, size_t size,
                uint8_t* out) {
    int n = 0;
    EVP_CIPHER_CTX* ctx = encrypt.get();
    Check(EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv, nullptr) == 1 &&
              EVP_EncryptUpdate(ctx, nullptr, &n, reinterpret_cast<const uint8_t*>(aad.data()),
                                static_cast<int>(aad.size())) == 1 &&
              EVP_EncryptUpdate(ctx, out, &n, in, static_cast<int>(size)) == 1 &&
              EVP_EncryptFinal_ex(ctx, out + n, &n) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, out + size) == 1,
          "EVP seal");
  }
  void Open(const uint8_t* in, size_t size, uint8_t* out) {
    OpenWith(nonce.data(), kAad, in, size, out);
  }
  // Aborts unless the tag verifies: the baseline really authenticates.
  void OpenWith(const uint8_t* iv, std::string_view aad, const uint8_t* in, size_t size,
                uint8_t* out) {
    int n = 0;
    EVP_CIPHER_CTX* ctx = decrypt.get();
    std::array<uint8_t, kTagSize> tag;
    std::memcpy(tag.data(), in + size, kTagSize);
    Check(EVP_DecryptInit_ex2(ctx, nullptr, nullptr, iv, nullptr) == 1 &&
              EVP_DecryptUpdate(ctx, nullptr, &n, reinterpret_cast<const uint8_t*>(aad.data()),
                                static_cast<int>(aad.size())) == 1 &&
              EVP_DecryptUpdate(ctx, out, &n, in, static_cast<int>(size)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag.data()) == 1 &&
              EVP_DecryptFinal_ex(ctx, out + n, &n) == 1,
          "EVP open");
  }
};

// The raw encrypt loop; with `reinit_key`, the full key setup runs again before every call (what
// AesGcm avoids).
void RawEvpEncrypt(benchmark::State& state, bool reinit_key) {
  const size_t size = ValueSize(state);
  RawGcm gcm;
  const std::vector<uint8_t> plain = Plaintext(size);
  std::vector<uint8_t> sealed(size + kTagSize);
  MeasurePerValue(state, size, [&] {
    gcm.NextNonce();
    if (reinit_key) {
      Check(EVP_EncryptInit_ex2(gcm.encrypt.get(), gcm.cipher.get(), gcm.key.data(), nullptr,
                                nullptr) == 1,
            "EVP re-init");
    }
    gcm.Seal(plain.data(), size, sealed.data());
    return sealed.data();
  });
}

void BM_RawEvpEncrypt(benchmark::State& state) { RawEvpEncrypt(state, false); }
void BM_RawEvpEncryptReinit(benchmark::State& state) { RawEvpEncrypt(state, true); }

// Decrypt a value, then encrypt it again: the raw work of one re-encrypted row.
void BM_RawEvpDecryptEncrypt(benchmark::State& state) {
  const size_t size = ValueSize(state);
  RawGcm gcm;
  std::vector<uint8_t> sealed(size + kTagSize), plain(size + kTagSize), resealed(size + kTagSize);
  gcm.Seal(Plaintext(size).data(), size, sealed.data());
  const auto first_nonce = gcm.nonce;
  MeasurePerValue(state, size, [&] {
    gcm.nonce = first_nonce;
    gcm.Open(sealed.data(), size, plain.data());
    gcm.NextNonce();
    gcm.Seal(plain.data(), size, resealed.data());
    return resealed.data();
  });
}

// The raw work of one re-encrypted envelope, like for like with BM_ReencryptStageReusedBuffer:
// base64-decode the payload of "udmg:v1:<b64>" (EVP_DecodeBlock), decrypt it under AAD "udmg:v1:"
// with the nonce it carries (the tag checked), seal it under AAD "udmg:v2:" with a counter nonce
// (no CSPRNG), base64-encode nonce ‖ ciphertext ‖ tag (EVP_EncodeBlock) after "udmg:v2:". Buffers
// are reused; the stage also returns a fresh string per value.
class RawEnvelopeReencrypter {
 public:
  explicit RawEnvelopeReencrypter(size_t size) : size_(size) {
    const size_t sealed_size = kNonceSize + size + kTagSize;
    sealed_.resize(sealed_size + 2);  // EVP_DecodeBlock also writes a zero byte per '='
    plain_.resize(size);
    resealed_.resize(sealed_size);
    // The old envelope, made the same way in reverse.
    const std::vector<uint8_t> plain = Plaintext(size);
    gcm_.NextNonce();
    std::memcpy(sealed_.data(), gcm_.nonce.data(), kNonceSize);
    gcm_.SealWith(gcm_.nonce.data(), kOldAad, plain.data(), size, sealed_.data() + kNonceSize);
    old_envelope_.assign(kOldAad);
    old_envelope_.resize(kOldAad.size() + Base64EncodedSize(sealed_size));
    EVP_EncodeBlock(reinterpret_cast<uint8_t*>(old_envelope_.data() + kOldAad.size()),
                    sealed_.data(), static_cast<int>(sealed_size));
    new_envelope_.assign(kNewAad);
    new_envelope_.resize(old_envelope_.size());
    // One pass checked against the plaintext, so the timed loop is known to do the real work.
    ReencryptOne();
    Check(std::memcmp(plain_.data(), plain.data(), size) == 0, "raw envelope round trip");
  }

  const std::string& ReencryptOne() {
    const std::string_view envelope = old_envelope_;
    Check(envelope.starts_with(kOldAad), "raw envelope prefix");
    const std::string_view payload = envelope.substr(kOldAad.size());
    // EVP_DecodeBlock counts padding as zero bytes: take them off.
    const int decoded =
        EVP_DecodeBlock(sealed_.data(), reinterpret_cast<const uint8_t*>(payload.data()),
                        static_cast<int>(payload.size()));
    const size_t padding = payload.ends_with("==") ? 2 : payload.ends_with('=') ? 1 : 0;
    Check(decoded >= 0 && static_cast<size_t>(decoded) - padding == kNonceSize + size_ + kTagSize,
          "EVP_DecodeBlock");
    gcm_.OpenWith(sealed_.data(), kOldAad, sealed_.data() + kNonceSize, size_, plain_.data());
    gcm_.NextNonce();
    std::memcpy(resealed_.data(), gcm_.nonce.data(), kNonceSize);
    gcm_.SealWith(gcm_.nonce.data(), kNewAad, plain_.data(), size_, resealed_.data() + kNonceSize);
    EVP_EncodeBlock(reinterpret_cast<uint8_t*>(new_envelope_.data() + kNewAad.size()),
                    resealed_.data(), static_cast<int>(resealed_.size()));
    return new_envelope_;
  }

 private:
  static constexpr std::string_view kOldAad = "udmg:v1:";
  static constexpr std::string_view kNewAad = "udmg:v2:";
  size_t size_;
  RawGcm gcm_;
  std::vector<uint8_t> sealed_, plain_, resealed_;
  std::string old_envelope_, new_envelope_;
};

void BM_RawEvpReencryptEnvelope(benchmark::State& state) {
  const size_t size = ValueSize(state);
  RawEnvelopeReencrypter raw(size);
  MeasurePerValue(state, size, [&] { return raw.ReencryptOne().data(); });
}

// ---- Scaling: the stage on 1, 2 and all hardware threads ---------------------------------------

// One keyring and one old envelope per size for all threads; each thread its own ValueCipher, as
// the pipeline's crypto stage gives each worker one (pipeline/flow_graph.cc).
const Rotation& SharedRotation() {
  static const Rotation* rotation = new Rotation;
  return *rotation;
}

void BM_ReencryptStageThreads(benchmark::State& state) {
  const size_t size = ValueSize(state);
  const std::string old_envelope = OldEnvelope(SharedRotation(), size);
  ValueCipher cipher(SharedRotation().after);
  SecretBytes plain;
  MeasurePerValue(state, size, [&] {
    Check(cipher.DecryptInto(old_envelope, plain).ok(), "DecryptInto");
    return cipher.Encrypt(plain);
  });
}

void BM_RawEvpReencryptEnvelopeThreads(benchmark::State& state) {
  const size_t size = ValueSize(state);
  RawEnvelopeReencrypter raw(size);
  MeasurePerValue(state, size, [&] { return raw.ReencryptOne().data(); });
}

// 1, 2 and every hardware thread (once each), timed on the wall clock so that items_per_second
// is the throughput of all threads together.
void ScalingThreads(benchmark::internal::Benchmark* benchmark) {
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  benchmark->Threads(1);
  if (all >= 2) benchmark->Threads(2);
  if (all > 2) benchmark->Threads(all);
  benchmark->UseRealTime();
}

#define UDMG_SIZES Arg(64)->Arg(1024)->Arg(4096)
BENCHMARK(BM_ReencryptStage)->UDMG_SIZES;
BENCHMARK(BM_ReencryptStageReusedBuffer)->UDMG_SIZES;
BENCHMARK(BM_ReencryptStageRowBound)->ArgsProduct({{64, 1024, 4096}, {0, 1}});
BENCHMARK(BM_RawEvpDecryptEncrypt)->UDMG_SIZES;
BENCHMARK(BM_RawEvpReencryptEnvelope)->UDMG_SIZES;
BENCHMARK(BM_ReencryptStageThreads)->Arg(64)->Arg(4096)->Apply(ScalingThreads);
BENCHMARK(BM_RawEvpReencryptEnvelopeThreads)->Arg(64)->Arg(4096)->Apply(ScalingThreads);
BENCHMARK(BM_ValueCipherEncrypt)->UDMG_SIZES;
BENCHMARK(BM_ValueCipherDecrypt)->UDMG_SIZES;
BENCHMARK(BM_RawEvpEncrypt)->UDMG_SIZES;
BENCHMARK(BM_RawEvpEncryptReinit)->UDMG_SIZES;

}  // namespace
}  // namespace udmg

BENCHMARK_MAIN();
