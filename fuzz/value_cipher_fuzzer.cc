// Decrypting stored values (engine/value_cipher.h) with a fixed keyring (fuzz/fuzz_keys.h:
// version 1 retired, 2 decrypt_only, 3 active). Any text: Decrypt never crashes and fails with the
// code its kind of value calls for (ExpectedFailure); a value that decrypts re-encrypts under the
// active version and decrypts back to
// the same plaintext. The input as a plaintext: Encrypt then Decrypt gives it back. Each in an
// unbound column and in a row-bound one (bound from version 3), the bound form in its row.
#include <algorithm>

#include "engine/encoding.h"
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

// One row of an unbound column (reads both forms) and the same row of a column bound from the
// active version on (writes the bound form, refuses unbound version-3 values).
const ValueLocation kUnboundRow{"credentials", "secret", "42", std::nullopt};
const ValueLocation kBoundRow{"credentials", "secret", "42", 3};

// The code a value that does not decrypt must fail with, in the order of docs/formats.md: not an
// envelope, or a body that is not base64 of a nonce and a tag: kBadInput; an unbound envelope a
// bound row refuses: kCorruptValue; a version the keyring cannot read: kNotFound; anything else
// fails authentication (no input forges a tag): kCorruptValue.
ErrorCode ExpectedFailure(std::string_view value, const ValueLocation& location) {
  Result<EnvelopeParts> parts = ParseEnvelope(value);
  if (!parts.ok()) return ErrorCode::kBadInput;
  if (!parts->bound && location.bound_since && parts->version >= *location.bound_since) {
    return ErrorCode::kCorruptValue;
  }
  std::optional<std::vector<uint8_t>> body = Base64Decode(parts->payload);
  if (!body || body->size() < kGcmNonceSize + kGcmTagSize) return ErrorCode::kBadInput;
  static const std::vector<uint32_t> readable = fuzz::FuzzKeyring()->readable_versions();
  if (std::find(readable.begin(), readable.end(), parts->version) == readable.end()) {
    return ErrorCode::kNotFound;
  }
  return ErrorCode::kCorruptValue;
}

void CheckRoundTrip(std::span<const uint8_t> plaintext, const ValueLocation& location) {
  Result<std::string> envelope = Cipher().Encrypt(plaintext, &location);
  FUZZ_CHECK(envelope.ok(), "Encrypt failed");
  const std::string prefix = location.bound_since ? BoundEnvelopePrefix(3) : EnvelopePrefix(3);
  FUZZ_CHECK(envelope->starts_with(prefix), "not encrypted under the active version and form");
  Result<SecretBytes> back = Cipher().Decrypt(*envelope, &location);
  FUZZ_CHECK(back.ok(), "a fresh envelope does not decrypt");
  FUZZ_CHECK(back->size() == plaintext.size() &&
                 std::equal(back->begin(), back->end(), plaintext.begin()),
             "Encrypt then Decrypt changed the plaintext");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value = fuzz::InputText(data, size);
  for (const ValueLocation* location : {&kUnboundRow, &kBoundRow}) {
    Result<SecretBytes> plaintext = Cipher().Decrypt(value, location);
    if (plaintext.ok()) {
      CheckRoundTrip(*plaintext, *location);
    } else {
      fuzz::CheckError(plaintext.error(), ExpectedFailure(value, *location));
    }
    CheckRoundTrip({data, size}, *location);
  }
  return 0;
}
