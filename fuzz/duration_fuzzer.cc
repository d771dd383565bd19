// --max-duration (cli/duration.h ParseDuration). A duration that parses is 0..10 years and reads
// the same printed as plain seconds and as h/m/s; a refusal is kBadInput on one line.
#include "cli/duration.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<std::chrono::seconds> duration = cli::ParseDuration(fuzz::InputText(data, size));
  if (!fuzz::Parsed(duration, ErrorCode::kBadInput)) return 0;
  const int64_t seconds = duration->count();
  FUZZ_CHECK(seconds >= 0 && seconds <= int64_t{10} * 365 * 24 * 3600, "a duration out of range");
  Result<std::chrono::seconds> plain = cli::ParseDuration(std::to_string(seconds));
  FUZZ_CHECK(plain.ok() && *plain == *duration, "plain seconds do not round-trip");
  const std::string units = std::to_string(seconds / 3600) + "h" +
                            std::to_string(seconds / 60 % 60) + "m" +
                            std::to_string(seconds % 60) + "s";
  Result<std::chrono::seconds> split = cli::ParseDuration(units);
  FUZZ_CHECK(split.ok() && *split == *duration, "h/m/s do not round-trip");
  return 0;
}
