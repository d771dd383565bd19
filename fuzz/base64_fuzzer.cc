// Base64 decoders (engine/encoding.h), standard and URL-safe. They are strict, so every text that
// decodes is canonical: encoding the bytes gives the text back. Base64DecodeInto agrees with
// Base64Decode. The input as bytes: decode(encode(bytes)) is the bytes, in the encoded size.
#include <algorithm>

#include "engine/encoding.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  const std::span<const uint8_t> bytes(data, size);

  std::optional<std::vector<uint8_t>> standard = Base64Decode(text);
  if (standard) FUZZ_CHECK(Base64Encode(*standard) == text, "standard base64 is not canonical");
  std::vector<uint8_t> into{1, 2, 3};
  const bool decoded_into = Base64DecodeInto(text, into);
  FUZZ_CHECK(decoded_into == standard.has_value(), "Base64DecodeInto and Base64Decode disagree");
  if (decoded_into) FUZZ_CHECK(into == *standard, "Base64DecodeInto decoded other bytes");

  std::optional<std::vector<uint8_t>> url = Base64UrlDecode(text);
  if (url) FUZZ_CHECK(Base64UrlEncode(*url) == text, "URL-safe base64 is not canonical");

  const std::string encoded = Base64Encode(bytes);
  FUZZ_CHECK(encoded.size() == Base64EncodedSize(size), "Base64EncodedSize is wrong");
  std::string appended = "x";
  Base64EncodeAppend(bytes, appended);
  FUZZ_CHECK(appended == "x" + encoded, "Base64EncodeAppend differs from Base64Encode");
  const std::optional<std::vector<uint8_t>> back = Base64Decode(encoded);
  FUZZ_CHECK(back && std::equal(back->begin(), back->end(), bytes.begin(), bytes.end()),
             "standard base64 does not round-trip");
  const std::optional<std::vector<uint8_t>> url_back = Base64UrlDecode(Base64UrlEncode(bytes));
  FUZZ_CHECK(url_back && std::equal(url_back->begin(), url_back->end(), bytes.begin(), bytes.end()),
             "URL-safe base64 does not round-trip");
  return 0;
}
