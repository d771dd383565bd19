// K0 from UDMG_SECURITY_PASSPHRASE_KEY (engine/root_key.h ParseRootKey). A key that parses is the
// input's 64 hex digits (either case, whitespace around it): its lowercase hex re-encoding parses
// again to the same bytes. A refusal is kBadKey, one line, and its message depends only on the
// input's shape (length, position of the first non-hex character), never on its characters.
#include "engine/encoding.h"
#include "engine/root_key.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/root_key_shape.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  Result<SecretBytes> key = ParseRootKey(text, kRootKeyEnv);
  if (!key.ok()) {
    fuzz::CheckError(key.error(), ErrorCode::kBadKey);
    Result<SecretBytes> other = ParseRootKey(fuzz::SameShapeOtherText(text), kRootKeyEnv);
    FUZZ_CHECK(!other.ok() && other.error().message == key.error().message,
               "the refusal's message depends on the key's characters");
    return 0;
  }
  FUZZ_CHECK(key->size() == kKeySize, "a parsed K0 is not 32 bytes");
  const std::string hex = HexEncode(*key);
  std::string lower(text);
  for (char& c : lower) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  const size_t first = lower.find_first_not_of(" \t\r\n\v\f");
  const size_t last = lower.find_last_not_of(" \t\r\n\v\f");
  FUZZ_CHECK(first != std::string::npos && lower.substr(first, last - first + 1) == hex,
             "the parsed K0 is not the input's hex");
  Result<SecretBytes> again = ParseRootKey(hex, kRootKeyEnv);
  FUZZ_CHECK(again.ok() && SafeEquals(*again, *key), "a K0 does not round-trip through hex");
  return 0;
}
