// Helpers shared by the engine tests: test data files, hex literals, byte views.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
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

// Deterministic, varied test bytes (not a key: keys come from RandomSecret).
inline std::vector<uint8_t> Pattern(size_t size, uint8_t seed = 1) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(seed + 31 * i + (i >> 3));
  return out;
}

}  // namespace udmg::testing
