// Decrypting stored values (engine/value_cipher.h) with a fixed keyring (fuzz/fuzz_keys.h:
// version 1 retired, 2 decrypt_only, 3 active). Any text: Decrypt never crashes and fails only
// with kBadInput (malformed), kNotFound (unreadable version) or kCorruptValue (does not
// authenticate); a value that decrypts re-encrypts under the active version and decrypts back to
// the same plaintext. The input as a plaintext: Encrypt then Decrypt gives it back.
#include "engine/envelope.h"
#include "engine/value_cipher.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_keys.h"

using namespace udmg;

namespace {

ValueCipher& Cipher() {
  static ValueCipher* cipher = new ValueCipher(fuzz::FuzzKeyring());
  return *cipher;
}

void CheckRoundTrip(std::span<const uint8_t> plaintext) {
  Result<std::string> envelope = Cipher().Encrypt(plaintext);
  FUZZ_CHECK(envelope.ok(), "Encrypt failed");
  FUZZ_CHECK(envelope->starts_with(EnvelopePrefix(3)), "not encrypted under the active version");
  Result<SecretBytes> back = Cipher().Decrypt(*envelope);
  FUZZ_CHECK(back.ok(), "a fresh envelope does not decrypt");
  FUZZ_CHECK(back->size() == plaintext.size() &&
                 std::equal(back->begin(), back->end(), plaintext.begin()),
             "Encrypt then Decrypt changed the plaintext");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value = fuzz::InputText(data, size);
  Result<SecretBytes> plaintext = Cipher().Decrypt(value);
  if (plaintext.ok()) {
    CheckRoundTrip(*plaintext);
  } else {
    fuzz::CheckError(plaintext.error(), ErrorCode::kBadInput, ErrorCode::kNotFound,
                     ErrorCode::kCorruptValue);
  }
  CheckRoundTrip({data, size});
  return 0;
}
