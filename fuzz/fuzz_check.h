// What every harness needs: FUZZ_CHECK (a failed property aborts with a message, which libFuzzer
// reports as a crash and saves the input), the input as text, and the shared checks on errors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/status.h"

#define FUZZ_CHECK(condition, what)                                                   \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace udmg::fuzz {

inline std::string_view InputText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Every bad input ends in one line (docs/exit-codes.md): no raw newline in a message.
inline void CheckOneLineError(const Error& error) {
  FUZZ_CHECK(!error.message.empty(), "an error without a message");
  FUZZ_CHECK(error.message.find('\n') == std::string::npos &&
                 error.message.find('\r') == std::string::npos,
             "an error message spans several lines");
}

// The error is one line and has one of the expected codes.
template <typename... Codes>
void CheckError(const Error& error, Codes... expected) {
  CheckOneLineError(error);
  FUZZ_CHECK(((error.code == expected) || ...), "an error with an unexpected code");
}

// True when `parsed` holds a value; otherwise checks its refusal as CheckError does and returns
// false, so that a harness checks a refused input and stops on one line.
template <typename T, typename... Codes>
bool Parsed(const Result<T>& parsed, Codes... refusal_codes) {
  if (parsed.ok()) return true;
  CheckError(parsed.error(), refusal_codes...);
  return false;
}

}  // namespace udmg::fuzz
