// Key bytes: one self-wiping type, one wipe, one constant-time comparison (Tink SecretData,
// SafeCryptoMemEquals). Key bytes never sit in a plain std::string or std::vector<uint8_t>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace udmg {

// Wipes memory in a way the compiler may not drop (OPENSSL_cleanse).
void Wipe(void* data, size_t size);

namespace internal {
// Where CleansingAllocator's blocks come from: OpenSSL's secure heap (locked, not dumped; see
// docs/process-hygiene.md) when the process initialised it and it has room, else the ordinary
// heap. Thread-safe (the secure heap takes a global lock per call: allocate per batch, not per row).
void* AllocateSecret(size_t bytes);
// Wipes `bytes` at `block` and returns the block to the heap it came from.
void FreeSecret(void* block, size_t bytes) noexcept;
}  // namespace internal

// Allocator that wipes every block it frees, including the old block when a container grows.
template <typename T>
struct CleansingAllocator {
  // The secure heap aligns blocks to its minimum block size (16 bytes).
  static_assert(alignof(T) <= 16, "CleansingAllocator holds bytes and characters");
  using value_type = T;
  CleansingAllocator() noexcept = default;
  template <typename U>
  CleansingAllocator(const CleansingAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(internal::AllocateSecret(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { internal::FreeSecret(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const CleansingAllocator<U>&) const noexcept { return true; }
};

// Key bytes (K0, K1) and decrypted secrets. Wiped when freed.
using SecretBytes = std::vector<uint8_t, CleansingAllocator<uint8_t>>;
// Text that holds a secret (a key in hex as read from the environment or a file). Wiped when freed.
// Note: short strings live inside the object (SSO); SecretString's destructor is not enough for
// them, so hold SecretString only where its buffer is heap-allocated (>15 chars) or call Wipe.
using SecretString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;

// Constant-time equality (CRYPTO_memcmp); false when the sizes differ.
bool SafeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);

// `size` bytes from OpenSSL's CSPRNG (RAND_bytes). Aborts if the CSPRNG fails: no key may be made
// from anything weaker.
SecretBytes RandomSecret(size_t size);

inline std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
inline std::string_view AsText(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace udmg
