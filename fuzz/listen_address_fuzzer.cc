// --metrics-listen HOST:PORT (metrics/exposer.h ParseListenAddress). An address that parses has a
// port in 0..65535 and a host of printable ASCII, and printed back (brackets when the host needs them) parses to the
// same address; a refusal is kBadInput on one line.
#include "fuzz/fuzz_check.h"
#include "metrics/exposer.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::InputText(data, size);
  Result<metrics::ListenAddress> address = metrics::ParseListenAddress(text);
  if (!fuzz::Parsed(address, ErrorCode::kBadInput)) return 0;
  FUZZ_CHECK(address->port >= 0 && address->port <= 65535, "a port outside 0..65535");
  FUZZ_CHECK(!address->host.empty(), "an address without a host");
  for (const char c : address->host) {
    FUZZ_CHECK(c > 0x20 && c < 0x7f, "a host with a space or a control or non-ASCII byte");
  }
  const bool brackets = address->host.find(':') != std::string::npos || address->host[0] == '[';
  const std::string printed = (brackets ? "[" + address->host + "]" : address->host) + ":" +
                              std::to_string(address->port);
  Result<metrics::ListenAddress> again = metrics::ParseListenAddress(printed);
  FUZZ_CHECK(again.ok() && again->host == address->host && again->port == address->port,
             "a listen address does not round-trip");
  return 0;
}
