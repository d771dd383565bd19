// A std::unique_ptr that frees a C library's handle with that library's own function, so that no
// owner needs a deleter struct of its own:
//   using CipherCtxPtr = UniqueHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
#pragma once

#include <memory>

namespace udmg {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};

template <typename T, auto Free>
using UniqueHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace udmg
