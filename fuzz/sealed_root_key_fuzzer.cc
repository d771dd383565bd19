// A sealed root key's text (engine/sealed_root_key.h ParseSealedRootKey), as any K0 source may
// hold it. A text that parses is the one spelling of what it holds: FormatSealedRootKey gives the
// input back (without surrounding whitespace) and parses to the same fields. A refusal is
// kBadKey on one line and names the source.
#include "engine/encoding.h"
#include "engine/sealed_root_key.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  Result<SealedRootKey> sealed = ParseSealedRootKey(text, "the fuzz input");
  if (!sealed.ok()) {
    fuzz::CheckError(sealed.error(), ErrorCode::kBadKey);
    FUZZ_CHECK(sealed.error().message.starts_with("the fuzz input "),
               "the refusal does not name the source");
    return 0;
  }
  FUZZ_CHECK(LooksSealed(text), "a parsed sealed key does not look sealed");
  FUZZ_CHECK(sealed->wrapped.size() == kWrappedRootKeySize, "the wrapped key is not 40 bytes");
  FUZZ_CHECK(!sealed->token_label.empty() && sealed->token_label.size() <= 32 &&
                 !sealed->key_label.empty() && sealed->key_label.size() <= 32,
             "a label outside 1..32 bytes");
  const std::string printed = FormatSealedRootKey(*sealed);
  FUZZ_CHECK(TrimWhitespace(text) == printed,
             "the sealed key has another spelling than its input");
  Result<SealedRootKey> again = ParseSealedRootKey(printed, "the printed key");
  FUZZ_CHECK(again.ok() && again->token_label == sealed->token_label &&
                 again->key_label == sealed->key_label && again->wrapped == sealed->wrapped &&
                 again->mechanism == sealed->mechanism,
             "a sealed key does not round-trip");
  return 0;
}
