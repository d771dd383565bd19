// rotate-k0 --new-key TEXT (cli/key_input.h NewKeyFromArgument), never "-" (that reads stdin)
// nor a sealed key (sealed_root_key_fuzzer).
// As root_key_fuzzer: a key that parses round-trips through its lowercase hex; a refusal is
// kBadKey, one line, and names --new-key without echoing any character of the argument.
#include "cli/key_input.h"
#include "engine/encoding.h"
#include "engine/sealed_root_key.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/root_key_shape.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  // "-" reads stdin; a sealed key is sealed_root_key_fuzzer's (its text is not secret, and
  // unsealing it needs a token).
  if (text == "-" || LooksSealed(text)) return 0;
  Result<SecretBytes> key = cli::NewKeyFromArgument(text);
  if (!key.ok()) {
    fuzz::CheckError(key.error(), ErrorCode::kBadKey);
    FUZZ_CHECK(key.error().message.find("--new-key") != std::string::npos,
               "the refusal does not name --new-key");
    const std::string other_text = fuzz::SameShapeOtherText(text);
    if (other_text == "-") return 0;
    Result<SecretBytes> other = cli::NewKeyFromArgument(other_text);
    FUZZ_CHECK(!other.ok() && other.error().message == key.error().message,
               "the refusal's message depends on the key's characters");
    return 0;
  }
  FUZZ_CHECK(key->size() == 32, "a new key is not 32 bytes");
  Result<SecretBytes> again = cli::NewKeyFromArgument(HexEncode(*key));
  FUZZ_CHECK(again.ok() && SafeEquals(*again, *key), "a new key does not round-trip through hex");
  return 0;
}
