// Value envelopes as stored (engine/envelope.h ParseEnvelope), both forms. A value that parses is
// exactly prefix + payload, its prefix is EnvelopePrefix(version) or, bound, BoundEnvelopePrefix
// (so the version has one text form) and it looks encrypted; a refusal is kBadInput on one line.
#include "engine/envelope.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value = fuzz::InputText(data, size);
  Result<EnvelopeParts> parts = ParseEnvelope(value);
  if (!fuzz::Parsed(parts, ErrorCode::kBadInput)) return 0;
  FUZZ_CHECK(parts->version >= 1, "an envelope of version 0");
  FUZZ_CHECK(parts->prefix == (parts->bound ? BoundEnvelopePrefix(parts->version)
                                             : EnvelopePrefix(parts->version)),
             "the prefix is not the form's prefix of its version");
  FUZZ_CHECK(std::string(parts->prefix) + std::string(parts->payload) == value,
             "prefix + payload is not the value");
  FUZZ_CHECK(LooksEncrypted(value), "a parsed envelope does not look encrypted");
  return 0;
}
