#include "engine/envelope.h"

#include <limits>

#include "engine/aead.h"

namespace udmg {
namespace {

constexpr std::string_view kVersionMarker = "udmg:v";
constexpr std::string_view kBoundMarker = "udmg:b";

Error Malformed(std::string_view what) {
  // The value itself is never echoed: a legacy plaintext secret may start with "udmg:".
  return Error{ErrorCode::kBadInput,
               "value starts with \"udmg:\" but is not a valid envelope (" + std::string(what) +
                   "; expected udmg:v<N>:<base64> or udmg:b<N>:<base64>): restore it from a "
                   "backup or rewrite it"};
}

std::string PrefixWith(std::string_view marker, uint32_t version) {
  std::string prefix(marker);
  prefix += std::to_string(version);
  prefix += ':';
  return prefix;
}

}  // namespace

std::string EnvelopePrefix(uint32_t version) { return PrefixWith(kVersionMarker, version); }

std::string BoundEnvelopePrefix(uint32_t version) { return PrefixWith(kBoundMarker, version); }

uint64_t MaxEnvelopeLength(uint64_t plaintext_size) {
  constexpr uint64_t kLongestPrefix = std::string_view("udmg:b4294967295:").size();
  uint64_t sealed = kGcmNonceSize + plaintext_size + kGcmTagSize;
  return kLongestPrefix + 4 * ((sealed + 2) / 3);
}

bool LooksEncrypted(std::string_view value) { return value.starts_with(kEnvelopeMagic); }

Result<EnvelopeParts> ParseEnvelope(std::string_view value) {
  const bool bound = value.starts_with(kBoundMarker);
  if (!bound && !value.starts_with(kVersionMarker)) {
    return Malformed("no version after \"udmg:\"");
  }
  size_t pos = kVersionMarker.size();  // both markers have the same length
  const size_t digits_start = pos;
  uint64_t version = 0;
  while (pos < value.size() && value[pos] >= '0' && value[pos] <= '9') {
    version = version * 10 + static_cast<uint64_t>(value[pos] - '0');
    if (version > std::numeric_limits<uint32_t>::max()) return Malformed("version out of range");
    ++pos;
  }
  if (pos == digits_start) return Malformed("no version number");
  if (value[digits_start] == '0') return Malformed("version 0 or with a leading zero");
  if (pos == value.size() || value[pos] != ':') return Malformed("no ':' after the version");
  ++pos;
  return EnvelopeParts{static_cast<uint32_t>(version), bound, value.substr(0, pos),
                       value.substr(pos)};
}

void BoundAad(std::string_view prefix, const ValueLocation& location, std::string& aad) {
  // Identifiers cannot hold 0x00 and the key comes last: the encoding is unambiguous.
  aad.clear();
  aad.reserve(prefix.size() + location.table.size() + location.column.size() +
              location.row_key.size() + 2);
  aad += prefix;
  aad += location.table;
  aad += '\0';
  aad += location.column;
  aad += '\0';
  aad += location.row_key;
}

bool RefusedAsUnbound(const EnvelopeParts& parts, const ValueLocation* location) {
  return !parts.bound && location != nullptr && location->bound_since &&
         parts.version >= *location->bound_since;
}

}  // namespace udmg
