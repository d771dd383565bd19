// Helpers shared by the engine tests: test data files, hex literals, byte views.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/encoding.h"
#include "engine/secret.h"

namespace udmg::testing {

// Parses a file under UDMG_TESTDATA_DIR; fails the test (and returns null) if it is unreadable.
inline nlohmann::json ReadTestData(const std::string& relative_path) {
  const std::string path = std::string(UDMG_TESTDATA_DIR) + "/" + relative_path;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  if (!in.good()) return nullptr;
  return nlohmann::json::parse(in);
}

// Hex literal to bytes; an invalid literal is a bug in the test.
inline std::vector<uint8_t> Hex(std::string_view hex) {
  std::optional<SecretBytes> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.has_value()) << "bad hex literal in test: " << hex;
  if (!bytes) return {};
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

inline std::vector<uint8_t> Bytes(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

inline std::string Text(std::span<const uint8_t> bytes) { return std::string(AsText(bytes)); }

// Python 3 with its `cryptography` package, the independent implementation the interop tests
// check against: without it the test is skipped, or fails under UDMG_REQUIRE_PYTHON=1 (set by
// scripts/test.sh, so CI cannot pass without running them). Only the import is checked: once it
// works, any failure of the Python side is the test's failure.
inline bool PythonCryptographyAvailable() {
  return std::system("python3 -c 'import cryptography' >/dev/null 2>&1") == 0;
}
inline bool PythonRequired() {
  const char* value = std::getenv("UDMG_REQUIRE_PYTHON");
  return value != nullptr && std::string(value) == "1";
}
#define UDMG_REQUIRE_PYTHON_CRYPTOGRAPHY()                                                     \
  do {                                                                                         \
    if (!::udmg::testing::PythonCryptographyAvailable()) {                                     \
      if (::udmg::testing::PythonRequired()) {                                                 \
        FAIL() << "python3 with cryptography is missing (UDMG_REQUIRE_PYTHON=1): apt-get "     \
                  "install python3-cryptography";                                             \
      }                                                                                        \
      GTEST_SKIP() << "python3 with the cryptography package is not available";                \
    }                                                                                          \
  } while (0)

// Deterministic, varied test bytes (not a key: keys come from RandomSecret).
inline std::vector<uint8_t> Pattern(size_t size, uint8_t seed = 1) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(seed + 31 * i + (i >> 3));
  return out;
}

}  // namespace udmg::testing
