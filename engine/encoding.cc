// Table-driven codecs: the envelope is base64-encoded for every value, so these sit on the hot path.
#include "engine/encoding.h"

#include <array>
#include <bit>
#include <cstring>

#include "base/hex.h"

namespace udmg {
namespace {

constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xFF;

using DecodeTable = std::array<uint8_t, 256>;

constexpr DecodeTable MakeDecodeTable(const char* alphabet) {
  DecodeTable table{};
  for (auto& entry : table) entry = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = i;
  return table;
}

constexpr DecodeTable kStdDecode = MakeDecodeTable(kStdAlphabet);
constexpr DecodeTable kUrlDecode = MakeDecodeTable(kUrlAlphabet);


// Encoding looks up 12 bits (two output characters) at a time.
using PairTable = std::array<uint16_t, 4096>;

constexpr PairTable MakePairTable(const char* alphabet) {
  PairTable table{};
  for (uint16_t i = 0; i < 4096; ++i) {
    // Stored in memory order: first character in the low byte (little-endian) or high byte.
    const auto first = static_cast<uint8_t>(alphabet[i >> 6]);
    const auto second = static_cast<uint8_t>(alphabet[i & 0x3F]);
    table[i] = std::endian::native == std::endian::little
                   ? static_cast<uint16_t>(first | (second << 8))
                   : static_cast<uint16_t>((first << 8) | second);
  }
  return table;
}

constexpr PairTable kStdPairs = MakePairTable(kStdAlphabet);
constexpr PairTable kUrlPairs = MakePairTable(kUrlAlphabet);

void EncodeBase64(std::span<const uint8_t> in, const char* alphabet, const PairTable& pairs,
                  std::string& out) {
  const size_t start = out.size();
  out.resize(start + Base64EncodedSize(in.size()));
  char* dst = out.data() + start;
  const uint8_t* src = in.data();
  size_t remaining = in.size();
  // Two groups (6 bytes) per step from one 8-byte load, while 8 bytes are there to read.
  for (; remaining >= 8; remaining -= 6, src += 6, dst += 8) {
    uint64_t bits;
    std::memcpy(&bits, src, 8);
    if constexpr (std::endian::native == std::endian::little) bits = __builtin_bswap64(bits);
    const uint16_t chars[4] = {pairs[(bits >> 52) & 0xFFF], pairs[(bits >> 40) & 0xFFF],
                               pairs[(bits >> 28) & 0xFFF], pairs[(bits >> 16) & 0xFFF]};
    std::memcpy(dst, chars, 8);
  }
  for (; remaining >= 3; remaining -= 3, src += 3, dst += 4) {
    const uint32_t triple = (uint32_t{src[0]} << 16) | (uint32_t{src[1]} << 8) | src[2];
    const uint16_t high = pairs[triple >> 12], low = pairs[triple & 0xFFF];
    std::memcpy(dst, &high, 2);
    std::memcpy(dst + 2, &low, 2);
  }
  if (remaining == 1) {
    dst[0] = alphabet[src[0] >> 2];
    dst[1] = alphabet[(src[0] & 0x03) << 4];
    dst[2] = '=';
    dst[3] = '=';
  } else if (remaining == 2) {
    dst[0] = alphabet[src[0] >> 2];
    dst[1] = alphabet[((src[0] & 0x03) << 4) | (src[1] >> 4)];
    dst[2] = alphabet[(src[1] & 0x0F) << 2];
    dst[3] = '=';
  }
}

// Decoding ORs four pre-shifted 6-bit values; an invalid character sets bit 24 (kBadSymbol).
constexpr uint32_t kBadSymbol = 1u << 24;
struct QuadTables {
  std::array<uint32_t, 256> shifted[4];
};

constexpr QuadTables MakeQuadTables(const DecodeTable& symbols) {
  QuadTables tables{};
  for (size_t c = 0; c < 256; ++c) {
    for (int position = 0; position < 4; ++position) {
      tables.shifted[position][c] =
          symbols[c] == kInvalid ? kBadSymbol : uint32_t{symbols[c]} << (18 - 6 * position);
    }
  }
  return tables;
}

constexpr QuadTables kStdQuads = MakeQuadTables(kStdDecode);
constexpr QuadTables kUrlQuads = MakeQuadTables(kUrlDecode);

// Strict RFC 4648 decoding: length a multiple of 4, padding only as the last one or two characters,
// and the unused bits of the last symbol zero (so one byte string has exactly one text form).
bool DecodeBase64(std::string_view text, const DecodeTable& table, const QuadTables& quads,
                  std::vector<uint8_t>& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(text.size() / 4 * 3 - padding);

  const auto* src = reinterpret_cast<const uint8_t*>(text.data());
  uint8_t* dst = out.data();
  const size_t full_quads = text.size() / 4 - (padding != 0 ? 1 : 0);
  uint32_t bad = 0;
  size_t q = 0;
  // One 4-byte store per group while the output has a byte to spare (the next group's first).
  for (; q + 1 < full_quads; ++q, src += 4, dst += 3) {
    uint32_t triple = quads.shifted[0][src[0]] | quads.shifted[1][src[1]] |
                      quads.shifted[2][src[2]] | quads.shifted[3][src[3]];
    bad |= triple;
    triple <<= 8;
    if constexpr (std::endian::native == std::endian::little) triple = __builtin_bswap32(triple);
    std::memcpy(dst, &triple, 4);
  }
  for (; q < full_quads; ++q, src += 4, dst += 3) {
    const uint32_t triple = quads.shifted[0][src[0]] | quads.shifted[1][src[1]] |
                            quads.shifted[2][src[2]] | quads.shifted[3][src[3]];
    bad |= triple;
    dst[0] = static_cast<uint8_t>(triple >> 16);
    dst[1] = static_cast<uint8_t>(triple >> 8);
    dst[2] = static_cast<uint8_t>(triple);
  }
  if ((bad & kBadSymbol) != 0) return false;
  if (padding == 0) return true;

  const uint8_t a = table[src[0]], b = table[src[1]];
  if (a == kInvalid || b == kInvalid) return false;
  if (padding == 2) {
    if ((b & 0x0F) != 0) return false;  // non-canonical trailing bits
    dst[0] = static_cast<uint8_t>((a << 2) | (b >> 4));
    return true;
  }
  const uint8_t c = table[src[2]];
  if (c == kInvalid || (c & 0x03) != 0) return false;
  dst[0] = static_cast<uint8_t>((a << 2) | (b >> 4));
  dst[1] = static_cast<uint8_t>((b << 4) | (c >> 2));
  return true;
}

std::optional<std::vector<uint8_t>> DecodeOrNullopt(std::string_view text,
                                                    const DecodeTable& table,
                                                    const QuadTables& quads) {
  std::vector<uint8_t> out;
  if (!DecodeBase64(text, table, quads, out)) return std::nullopt;
  return out;
}

}  // namespace

std::string HexEncode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t byte : bytes) hex::AppendByte(out, byte);
  return out;
}

std::optional<SecretBytes> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  SecretBytes out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex::DigitValue(text[2 * i]);
    const int lo = hex::DigitValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

std::string Base64Encode(std::span<const uint8_t> bytes) {
  std::string out;
  EncodeBase64(bytes, kStdAlphabet, kStdPairs, out);
  return out;
}

std::string Base64UrlEncode(std::span<const uint8_t> bytes) {
  std::string out;
  EncodeBase64(bytes, kUrlAlphabet, kUrlPairs, out);
  return out;
}

void Base64EncodeAppend(std::span<const uint8_t> bytes, std::string& out) {
  EncodeBase64(bytes, kStdAlphabet, kStdPairs, out);
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  return DecodeOrNullopt(text, kStdDecode, kStdQuads);
}

std::optional<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  return DecodeOrNullopt(text, kUrlDecode, kUrlQuads);
}

bool Base64DecodeInto(std::string_view text, std::vector<uint8_t>& out) {
  return DecodeBase64(text, kStdDecode, kStdQuads, out);
}

std::string_view TrimWhitespace(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\r\n\v\f";
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

}  // namespace udmg
