#include "engine/sealed_root_key.h"

#include <optional>

#include "base/percent_encoding.h"
#include "engine/encoding.h"

namespace udmg {
namespace {

constexpr std::string_view kVersion = "v1";
// Labels: 1 to 32 bytes, as PKCS#11 token labels are (CK_TOKEN_INFO.label).
constexpr size_t kMaxLabelBytes = 32;

// nullopt unless `text` is the one percent-encoding of a label of 1..32 bytes.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::optional<std::string> label = PercentDecodeCanonical(text);
  if (!label || label->empty() || label->size() > kMaxLabelBytes) return std::nullopt;
  return label;
}

std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) {
      fields.push_back(text.substr(start));
      return fields;
    }
    fields.push_back(text.substr(start, colon - start));
    start = colon + 1;
  }
}

}  // namespace

bool LooksSealed(std::string_view text) {
  return TrimWhitespace(text).starts_with(kSealedRootKeyPrefix);
}

Result<SealedRootKey> ParseSealedRootKey(std::string_view text, std::string_view what) {
  const std::string name(what);
  const std::string shape = ": a sealed root key is one line, udmg-sealed-k0:v1:aes-key-wrap:"
                            "TOKEN:KEY:BASE64, as seal-k0 writes it";
  auto bad = [&](const std::string& part) {
    return Error{ErrorCode::kBadKey, name + " holds a malformed sealed root key (" + part + ")" +
                                         shape};
  };
  const std::string_view trimmed = TrimWhitespace(text);
  if (!trimmed.starts_with(kSealedRootKeyPrefix)) {
    return bad("it does not start with udmg-sealed-k0:");
  }
  std::vector<std::string_view> fields =
      SplitFields(trimmed.substr(kSealedRootKeyPrefix.size()));
  if (fields.size() != 5) {
    return bad(std::to_string(fields.size()) + " fields after the prefix instead of 5");
  }
  if (fields[0] != kVersion) return bad("unknown version: this udmg-server reads v1");
  if (fields[1] != kAesKeyWrap) {
    return bad(
        "unknown wrapping mechanism: this udmg-server unwraps aes-key-wrap (CKM_AES_KEY_WRAP)");
  }
  SealedRootKey sealed;
  sealed.mechanism = std::string(fields[1]);
  std::optional<std::string> token = PercentDecode(fields[2]);
  if (!token) return bad("the token label is empty, longer than 32 bytes or not percent-encoded");
  std::optional<std::string> key = PercentDecode(fields[3]);
  if (!key) return bad("the key label is empty, longer than 32 bytes or not percent-encoded");
  std::optional<std::vector<uint8_t>> wrapped = Base64Decode(fields[4]);
  if (!wrapped || wrapped->size() != kWrappedRootKeySize ||
      Base64Encode(*wrapped) != fields[4]) {
    return bad("the wrapped key is not " + std::to_string(kWrappedRootKeySize) +
               " bytes in standard base64");
  }
  sealed.token_label = std::move(*token);
  sealed.key_label = std::move(*key);
  sealed.wrapped = std::move(*wrapped);
  return sealed;
}

std::string FormatSealedRootKey(const SealedRootKey& sealed) {
  return std::string(kSealedRootKeyPrefix) + std::string(kVersion) + ":" + sealed.mechanism + ":" +
         PercentEncode(sealed.token_label) + ":" + PercentEncode(sealed.key_label) + ":" +
         Base64Encode(sealed.wrapped);
}

}  // namespace udmg
