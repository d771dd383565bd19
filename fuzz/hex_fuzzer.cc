// Hex decoder (engine/encoding.h HexDecode): a text that decodes is an even number of hex digits,
// and HexEncode gives it back in lowercase. The input as bytes: decode(encode(bytes)) is the bytes.
#include <algorithm>

#include "engine/encoding.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  std::optional<SecretBytes> decoded = HexDecode(text);
  if (decoded) {
    std::string lower(text);
    for (char& c : lower) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
    FUZZ_CHECK(HexEncode(*decoded) == lower, "hex does not re-encode to the lowercase input");
  }
  const std::span<const uint8_t> bytes(data, size);
  const std::string encoded = HexEncode(bytes);
  FUZZ_CHECK(encoded.size() == 2 * size, "hex of n bytes is not 2n characters");
  std::optional<SecretBytes> back = HexDecode(encoded);
  FUZZ_CHECK(back && std::equal(back->begin(), back->end(), bytes.begin(), bytes.end()),
             "hex does not round-trip");
  return 0;
}
