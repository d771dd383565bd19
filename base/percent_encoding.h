// RFC 3986 percent-encoding, in its one canonical spelling: unreserved characters (letters, digits,
// "-._~") as they are, every other byte as "%XX" in upper-case hex. Used for the labels of a sealed
// root key's header and for the Pushgateway's grouping-key path segments.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace udmg {

std::string PercentEncode(std::string_view text);

// The bytes `text` encodes, or nullopt unless `text` is exactly what PercentEncode would give for
// them (so that a value has one spelling only: no lower-case hex, no encoded unreserved byte).
std::optional<std::string> PercentDecodeCanonical(std::string_view text);

}  // namespace udmg
