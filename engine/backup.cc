#include "engine/backup.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/unique_handle.h"
#include "engine/aead.h"
#include "engine/fernet.h"
#include "engine/root_key.h"

namespace udmg {
namespace {

// ---- Header layout (engine/backup.h) ----------------------------------------------------------

constexpr uint8_t kScryptKdf = 1;
constexpr size_t kSaltSize = 16;
constexpr size_t kFormatOffset = 8;
constexpr size_t kKdfOffset = 9;
constexpr size_t kLog2NOffset = 10;
constexpr size_t kROffset = 11;
constexpr size_t kPOffset = 15;
constexpr size_t kSaltOffset = 19;
constexpr size_t kNonceOffset = kSaltOffset + kSaltSize;          // 35
constexpr size_t kBodySizeOffset = kNonceOffset + kGcmNonceSize;  // 47
static_assert(kBodySizeOffset + 4 == kBackupHeaderSize, "header layout and size disagree");

constexpr uint8_t kMinLog2N = 10, kMaxLog2N = 22;
constexpr uint32_t kMaxR = 32, kMaxP = 16;
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;  // N·r·128 bytes

// The key's JSON field, and what stands in its place while nlohmann_json parses the rest: the hex
// of K0 never reaches a buffer that is not wiped.
constexpr std::string_view kRootKeyField = "root_key";
constexpr std::string_view kQuotedRootKeyField = "\"root_key\"";
constexpr size_t kRootKeyHexSize = 2 * kKeySize;
constexpr char kRootKeyMask = 'x';  // not a hex digit: a masked key can never parse as one

using KdfPtr = UniqueHandle<EVP_KDF, EVP_KDF_free>;
using KdfCtxPtr = UniqueHandle<EVP_KDF_CTX, EVP_KDF_CTX_free>;

struct Header {
  ScryptCost cost;
  std::array<uint8_t, kSaltSize> salt{};
  std::array<uint8_t, kGcmNonceSize> nonce{};
  uint32_t body_size = 0;  // ciphertext ‖ tag
};

void PutU32(uint32_t value, uint8_t* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}

uint32_t GetU32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | in[3];
}

std::vector<uint8_t> EncodeHeader(const Header& header) {
  std::vector<uint8_t> out(kBackupHeaderSize);
  std::copy(kBackupMagic.begin(), kBackupMagic.end(), out.begin());
  out[kFormatOffset] = kBackupFormat;
  out[kKdfOffset] = kScryptKdf;
  out[kLog2NOffset] = header.cost.log2_n;
  PutU32(header.cost.r, &out[kROffset]);
  PutU32(header.cost.p, &out[kPOffset]);
  std::copy(header.salt.begin(), header.salt.end(), out.begin() + kSaltOffset);
  std::copy(header.nonce.begin(), header.nonce.end(), out.begin() + kNonceOffset);
  PutU32(header.body_size, &out[kBodySizeOffset]);
  return out;
}

Error BadInput(std::string message) { return Error{ErrorCode::kBadInput, std::move(message)}; }

Status CheckCost(const ScryptCost& cost) {
  const bool in_bounds = cost.log2_n >= kMinLog2N && cost.log2_n <= kMaxLog2N && cost.r >= 1 &&
                         cost.r <= kMaxR && cost.p >= 1 && cost.p <= kMaxP &&
                         (uint64_t{1} << cost.log2_n) * cost.r * 128 <= kMaxScryptMemory;
  if (in_bounds) return Status::Ok();
  return BadInput("the backup's scrypt cost (N = 2^" + std::to_string(cost.log2_n) +
                  ", r = " + std::to_string(cost.r) + ", p = " + std::to_string(cost.p) +
                  ") is outside the accepted bounds (N 2^10..2^22, r 1..32, p 1..16, at most "
                  "1 GiB): the file is damaged or not from udmg-server; use another copy");
}

// Reads and checks everything the header says before any key is derived (engine/backup.h order).
Result<Header> ParseHeader(std::span<const uint8_t> file) {
  const size_t magic_seen = std::min(file.size(), kBackupMagic.size());
  if (!std::equal(file.begin(), file.begin() + magic_seen, kBackupMagic.begin())) {
    return Error{ErrorCode::kBadInput, "not a udmg-server backup file: check the backup file's path",
                 "backup_file"};
  }
  if (file.empty()) return BadInput("the backup file is empty: use a complete copy");
  if (file.size() > kFormatOffset && file[kFormatOffset] != kBackupFormat) {
    return BadInput("backup format " + std::to_string(file[kFormatOffset]) +
                    " is not supported: open it with the udmg-server version that wrote it");
  }
  if (file.size() > kKdfOffset && file[kKdfOffset] != kScryptKdf) {
    return BadInput("backup key derivation " + std::to_string(file[kKdfOffset]) +
                    " is not supported: open it with the udmg-server version that wrote it");
  }
  if (file.size() < kBackupHeaderSize) {
    return BadInput("the backup file is truncated: " + std::to_string(file.size()) +
                    " bytes, shorter than its " + std::to_string(kBackupHeaderSize) +
                    "-byte header; use a complete copy");
  }
  Header header;
  header.cost = ScryptCost{file[kLog2NOffset], GetU32(&file[kROffset]), GetU32(&file[kPOffset])};
  UDMG_RETURN_IF_ERROR(CheckCost(header.cost));
  std::copy_n(file.begin() + kSaltOffset, kSaltSize, header.salt.begin());
  std::copy_n(file.begin() + kNonceOffset, kGcmNonceSize, header.nonce.begin());
  header.body_size = GetU32(&file[kBodySizeOffset]);
  if (header.body_size < kGcmTagSize) {
    return BadInput("the backup header is damaged (a body of " + std::to_string(header.body_size) +
                    " bytes cannot hold its tag): use another copy");
  }
  const uint64_t expected = uint64_t{kBackupHeaderSize} + header.body_size;
  if (file.size() < expected) {
    return BadInput("the backup file is truncated: " + std::to_string(file.size()) + " of " +
                    std::to_string(expected) + " bytes; use a complete copy");
  }
  if (file.size() > expected) {
    return BadInput("the backup file has " + std::to_string(file.size() - expected) +
                    " bytes after the end: use an unaltered copy");
  }
  return header;
}

Error KdfFailure() {
  return Error{ErrorCode::kInternal,
               "OpenSSL scrypt (EVP_KDF) failed: check the OpenSSL 3 installation (default "
               "provider) and that the machine has the memory the cost asks for"};
}

// scrypt(passphrase, salt, N, r, p) → 32 bytes, through OpenSSL 3's EVP_KDF.
Result<SecretBytes> DeriveKey(std::span<const uint8_t> passphrase,
                              std::span<const uint8_t, kSaltSize> salt, const ScryptCost& cost) {
  const KdfPtr kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
  if (!kdf) return KdfFailure();
  const KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return KdfFailure();
  uint64_t n = uint64_t{1} << cost.log2_n;
  uint32_t r = cost.r, p = cost.p;
  // OpenSSL needs 128·r·(N + 2) bytes for V plus 128·r·p for B; give it that and some room.
  uint64_t max_memory = 128 * uint64_t{r} * (n + 2 + p) + (uint64_t{1} << 20);
  // An empty passphrase still needs a valid pointer for OSSL_PARAM.
  static const uint8_t kEmpty = 0;
  void* password = const_cast<uint8_t*>(passphrase.empty() ? &kEmpty : passphrase.data());
  const std::array<OSSL_PARAM, 7> params = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, password, passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end()};
  SecretBytes key(kKeySize);
  if (EVP_KDF_derive(ctx.get(), key.data(), key.size(), params.data()) != 1) return KdfFailure();
  return key;
}

// ---- Contents: JSON with K0's hex spliced in (seal) and masked out (open) ---------------------

nlohmann::json RootsJson(const std::vector<RootKeyRecord>& roots) {
  nlohmann::json out = nlohmann::json::array();
  for (const RootKeyRecord& root : roots) {
    out.push_back({{"version", root.version},
                   {"fingerprint", root.fingerprint},
                   {"wrapped_key", root.wrapped_key ? nlohmann::json(*root.wrapped_key) : nullptr},
                   {"wrapped_by", root.wrapped_by ? nlohmann::json(*root.wrapped_by) : nullptr},
                   {"created_at", root.created_at}});
  }
  return out;
}

nlohmann::json MastersJson(const std::vector<MasterKeyRecord>& masters) {
  nlohmann::json out = nlohmann::json::array();
  for (const MasterKeyRecord& master : masters) {
    out.push_back({{"version", master.version},
                   {"k3", master.k3},
                   {"root_version", master.root_version},
                   {"state", std::string(MasterKeyStateName(master.state))},
                   {"created_at", master.created_at}});
  }
  return out;
}

// Everything but the root key, which holds no secret.
std::string PublicJson(const BackupContents& contents) {
  const nlohmann::json json = {{"format", kBackupFormat},
                               {"keyring_id", contents.keyring_id},
                               {"keyring_revision", contents.keyring_revision},
                               {"created_at", contents.created_at},
                               {"tool_version", contents.tool_version},
                               {"root_version", contents.root_version},
                               {"root_fingerprint", contents.root_fingerprint},
                               {"roots", RootsJson(contents.records.roots)},
                               {"masters", MastersJson(contents.records.masters)}};
  return json.dump();
}

// {"root_key":"<64 hex>", + the public JSON without its opening brace, built in a wiped buffer.
SecretBytes PlaintextJson(const BackupContents& contents) {
  static constexpr std::string_view kHexDigits = "0123456789abcdef";
  const std::string public_json = PublicJson(contents);  // "{...}", never empty
  const std::string prefix = "{\"" + std::string(kRootKeyField) + "\":\"";
  SecretBytes out;
  out.reserve(prefix.size() + kRootKeyHexSize + 2 + public_json.size());
  out.insert(out.end(), prefix.begin(), prefix.end());
  for (const uint8_t byte : contents.root_key) {
    out.push_back(static_cast<uint8_t>(kHexDigits[byte >> 4]));
    out.push_back(static_cast<uint8_t>(kHexDigits[byte & 0xF]));
  }
  out.push_back('"');
  out.push_back(',');
  out.insert(out.end(), public_json.begin() + 1, public_json.end());
  return out;
}

bool IsJsonSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsLowerHex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// If `"root_key" : "<64 lowercase hex>"` starts at `at`, the offset of the hex.
std::optional<size_t> RootKeyHexAt(std::span<const uint8_t> text, size_t at) {
  const std::string_view quoted = kQuotedRootKeyField;
  if (text.size() - at < quoted.size() || AsText(text.subspan(at, quoted.size())) != quoted) {
    return std::nullopt;
  }
  size_t i = at + quoted.size();
  while (i < text.size() && IsJsonSpace(text[i])) ++i;
  if (i == text.size() || text[i++] != ':') return std::nullopt;
  while (i < text.size() && IsJsonSpace(text[i])) ++i;
  if (i == text.size() || text[i++] != '"') return std::nullopt;
  if (text.size() - i < kRootKeyHexSize + 1 || text[i + kRootKeyHexSize] != '"')
    return std::nullopt;
  for (size_t k = 0; k < kRootKeyHexSize; ++k) {
    if (!IsLowerHex(text[i + k])) return std::nullopt;
  }
  return i;
}

// Takes K0 out of the plaintext before the JSON parser sees it: the one `"root_key":"<hex>"`
// member is decoded into wiped memory and its hex overwritten with a mask. A look-alike inside
// another string cannot fool this: ParseContents insists that the parsed root_key is the mask.
Result<SecretBytes> TakeRootKey(SecretBytes& plaintext) {
  std::optional<size_t> found;
  for (size_t at = 0; at < plaintext.size(); ++at) {
    if (plaintext[at] != '"') continue;
    const std::optional<size_t> hex = RootKeyHexAt(plaintext, at);
    if (!hex) continue;
    if (found) return BadInput("the backup contents hold root_key twice: use another copy");
    found = hex;
  }
  if (!found) {
    return BadInput(
        "the backup contents have no root_key of 64 lowercase hex digits: use "
        "another copy");
  }
  SecretBytes key(kKeySize);
  for (size_t k = 0; k < kKeySize; ++k) {
    auto nibble = [](uint8_t c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
    key[k] = static_cast<uint8_t>(nibble(plaintext[*found + 2 * k]) << 4 |
                                  nibble(plaintext[*found + 2 * k + 1]));
  }
  std::fill_n(plaintext.begin() + static_cast<std::ptrdiff_t>(*found), kRootKeyHexSize,
              static_cast<uint8_t>(kRootKeyMask));
  return key;
}

Error MissingField(std::string_view where, std::string_view field, std::string_view kind) {
  return BadInput("the backup contents are malformed: " + std::string(where) + " has no " +
                  std::string(kind) + " field \"" + std::string(field) + "\"; use another copy");
}

// Typed field readers: a missing field or a wrong type is kBadInput (no exceptions escape).
template <typename Int>
Result<Int> IntField(const nlohmann::json& object, std::string_view where, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) {
    return MissingField(where, name, "integer");
  }
  if (it->is_number_unsigned()) {
    const uint64_t value = it->get<uint64_t>();
    if (value <= static_cast<uint64_t>(std::numeric_limits<Int>::max())) {
      return static_cast<Int>(value);
    }
  } else {
    const int64_t value = it->get<int64_t>();
    if (value >= static_cast<int64_t>(std::numeric_limits<Int>::min()) &&
        value <= static_cast<int64_t>(std::numeric_limits<Int>::max())) {
      return static_cast<Int>(value);
    }
  }
  return BadInput("the backup contents are malformed: " + std::string(where) + " field \"" + name +
                  "\" is out of range; use another copy");
}

Result<std::string> StringField(const nlohmann::json& object, std::string_view where,
                                const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return MissingField(where, name, "string");
  return it->get<std::string>();
}

Result<const nlohmann::json*> ArrayField(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return MissingField("the backup", name, "array");
  return &*it;
}

Result<RootKeyRecord> ParseRoot(const nlohmann::json& item) {
  if (!item.is_object()) return MissingField("a root entry", "version", "integer");
  RootKeyRecord root;
  const std::string where = "a root entry";
  UDMG_ASSIGN_OR_RETURN(root.version, IntField<uint32_t>(item, where, "version"));
  const std::string at = "root version " + std::to_string(root.version);
  UDMG_ASSIGN_OR_RETURN(root.fingerprint, StringField(item, at, "fingerprint"));
  UDMG_ASSIGN_OR_RETURN(root.created_at, IntField<int64_t>(item, at, "created_at"));
  const auto wrapped_key = item.find("wrapped_key");
  const auto wrapped_by = item.find("wrapped_by");
  if (wrapped_key == item.end() || wrapped_by == item.end()) {
    return MissingField(at, "wrapped_key\"/\"wrapped_by", "string/integer or null");
  }
  if (!wrapped_key->is_null()) {
    UDMG_ASSIGN_OR_RETURN(root.wrapped_key, StringField(item, at, "wrapped_key"));
  }
  if (!wrapped_by->is_null()) {
    UDMG_ASSIGN_OR_RETURN(root.wrapped_by, IntField<uint32_t>(item, at, "wrapped_by"));
  }
  return root;
}

Result<MasterKeyRecord> ParseMaster(const nlohmann::json& item) {
  if (!item.is_object()) return MissingField("a master entry", "version", "integer");
  MasterKeyRecord master;
  UDMG_ASSIGN_OR_RETURN(master.version, IntField<uint32_t>(item, "a master entry", "version"));
  const std::string at = "master version " + std::to_string(master.version);
  UDMG_ASSIGN_OR_RETURN(master.k3, StringField(item, at, "k3"));
  UDMG_ASSIGN_OR_RETURN(master.root_version, IntField<uint32_t>(item, at, "root_version"));
  UDMG_ASSIGN_OR_RETURN(master.created_at, IntField<int64_t>(item, at, "created_at"));
  UDMG_ASSIGN_OR_RETURN(const std::string state, StringField(item, at, "state"));
  const std::optional<MasterKeyState> parsed = ParseMasterKeyState(state);
  if (!parsed) {
    return BadInput("the backup contents are malformed: " + at + " has state \"" + state +
                    "\" (expected active, decrypt_only or retired); use another copy");
  }
  master.state = *parsed;
  return master;
}

// The masked plaintext (no key hex left in it) into contents; `root_key` is what TakeRootKey found.
Result<BackupContents> ParseContents(std::span<const uint8_t> masked, SecretBytes root_key) {
  const nlohmann::json json = nlohmann::json::parse(masked.begin(), masked.end(), nullptr,
                                                    /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return BadInput("the backup contents are not a JSON object: use another copy");
  }
  const std::string where = "the backup";
  UDMG_ASSIGN_OR_RETURN(const int64_t format, IntField<int64_t>(json, where, "format"));
  if (format != kBackupFormat) {
    return BadInput("the backup contents are format " + std::to_string(format) +
                    ", not the header's " + std::to_string(kBackupFormat) + "; use another copy");
  }
  UDMG_ASSIGN_OR_RETURN(const std::string mask, StringField(json, where, "root_key"));
  if (mask != std::string(kRootKeyHexSize, kRootKeyMask)) {
    return BadInput(
        "the backup contents have no root_key of 64 lowercase hex digits: use "
        "another copy");
  }
  BackupContents contents;
  contents.root_key = std::move(root_key);
  UDMG_ASSIGN_OR_RETURN(contents.keyring_id, StringField(json, where, "keyring_id"));
  UDMG_ASSIGN_OR_RETURN(contents.keyring_revision,
                        IntField<int64_t>(json, where, "keyring_revision"));
  UDMG_ASSIGN_OR_RETURN(contents.created_at, IntField<int64_t>(json, where, "created_at"));
  UDMG_ASSIGN_OR_RETURN(contents.tool_version, StringField(json, where, "tool_version"));
  UDMG_ASSIGN_OR_RETURN(contents.root_version, IntField<uint32_t>(json, where, "root_version"));
  UDMG_ASSIGN_OR_RETURN(contents.root_fingerprint, StringField(json, where, "root_fingerprint"));
  UDMG_ASSIGN_OR_RETURN(const nlohmann::json* roots, ArrayField(json, "roots"));
  for (const nlohmann::json& item : *roots) {
    UDMG_ASSIGN_OR_RETURN(RootKeyRecord root, ParseRoot(item));
    contents.records.roots.push_back(std::move(root));
  }
  UDMG_ASSIGN_OR_RETURN(const nlohmann::json* masters, ArrayField(json, "masters"));
  for (const nlohmann::json& item : *masters) {
    UDMG_ASSIGN_OR_RETURN(MasterKeyRecord master, ParseMaster(item));
    contents.records.masters.push_back(std::move(master));
  }
  contents.records.revision = contents.keyring_revision;
  return contents;
}

// ---- Key material checks (seal and open) ------------------------------------------------------

Error Corrupt(const std::string& what) {
  return Error{ErrorCode::kCorruptValue,
               "the backup's key material is inconsistent (" + what +
                   "): the backup cannot restore this keyring; use another backup"};
}

// Distinct versions, the backup's root as the one current root, exactly one active master.
Status CheckShape(const BackupContents& contents) {
  std::set<uint32_t> versions;
  for (const RootKeyRecord& root : contents.records.roots) {
    if (!versions.insert(root.version).second) {
      return Corrupt("root version " + std::to_string(root.version) + " appears twice");
    }
    if (!root.wrapped_key && root.version != contents.root_version) {
      return Corrupt("root version " + std::to_string(root.version) + " has no wrapped key but " +
                     "the backup's root is version " + std::to_string(contents.root_version));
    }
  }
  versions.clear();
  size_t active = 0;
  for (const MasterKeyRecord& master : contents.records.masters) {
    if (!versions.insert(master.version).second) {
      return Corrupt("master version " + std::to_string(master.version) + " appears twice");
    }
    if (master.state == MasterKeyState::kActive) ++active;
  }
  if (active != 1) return Corrupt(std::to_string(active) + " master versions are active");
  return Status::Ok();
}

// The backup's K0 is the root it names, every older K0 unwraps under it, and every K3 that is not
// retired unwraps under its root (kCorruptValue otherwise).
Status VerifyKeyMaterial(const BackupContents& contents) {
  const RootKeyRecord* root = FindRoot(contents.records, contents.root_version);
  if (root == nullptr || root->wrapped_key) {
    return Corrupt("root version " + std::to_string(contents.root_version) +
                   " is not listed as the current root");
  }
  const std::string fingerprint = RootKeyFingerprint(contents.root_key);
  if (fingerprint != contents.root_fingerprint || fingerprint != root->fingerprint) {
    return Corrupt("the root key's fingerprint " + fingerprint + " is not root version " +
                   std::to_string(contents.root_version) + "'s " + contents.root_fingerprint);
  }
  UDMG_RETURN_IF_ERROR(CheckShape(contents));
  for (const RootKeyRecord& older : contents.records.roots) {
    Result<SecretBytes> k0 = RootKeyOf(contents.records, contents.root_key, older.version);
    if (!k0.ok()) return Corrupt(k0.error().message);
  }
  for (const MasterKeyRecord& master : contents.records.masters) {
    if (master.state == MasterKeyState::kRetired) continue;
    Result<SecretBytes> k1 = UnwrapMasterKey(contents.records, contents.root_key, master);
    if (!k1.ok()) return Corrupt(k1.error().message);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint8_t>> SealBackup(const BackupContents& contents,
                                        std::span<const uint8_t> passphrase,
                                        const ScryptCost& cost) {
  if (passphrase.size() < kMinBackupPassphraseLength) {
    return BadInput("the backup passphrase is " + std::to_string(passphrase.size()) +
                    " bytes long: use at least " + std::to_string(kMinBackupPassphraseLength));
  }
  if (contents.root_key.size() != kKeySize) {
    return BadInput("the root key to back up must be 32 bytes; got " +
                    std::to_string(contents.root_key.size()));
  }
  if (RootKeyFingerprint(contents.root_key) != contents.root_fingerprint) {
    return BadInput("the root key to back up does not match root_fingerprint " +
                    contents.root_fingerprint + ": back up with the current root key");
  }
  const RootKeyRecord* root = FindRoot(contents.records, contents.root_version);
  if (root == nullptr || root->wrapped_key) {
    return BadInput("the keyring to back up has no current root version " +
                    std::to_string(contents.root_version) + ": read it again from the database");
  }
  UDMG_RETURN_IF_ERROR(CheckCost(cost));
  // A backup that could not be restored is worse than none: check it before writing it.
  UDMG_RETURN_IF_ERROR(VerifyKeyMaterial(contents));

  const SecretBytes plaintext = PlaintextJson(contents);
  if (plaintext.size() > std::numeric_limits<uint32_t>::max() - kGcmTagSize) {
    return BadInput("the keyring is too large for a backup file (4 GiB)");
  }
  Header header;
  header.cost = cost;
  const SecretBytes salt = RandomSecret(kSaltSize), nonce = RandomSecret(kGcmNonceSize);
  std::copy(salt.begin(), salt.end(), header.salt.begin());
  std::copy(nonce.begin(), nonce.end(), header.nonce.begin());
  header.body_size = static_cast<uint32_t>(plaintext.size() + kGcmTagSize);
  std::vector<uint8_t> file = EncodeHeader(header);

  UDMG_ASSIGN_OR_RETURN(const SecretBytes key, DeriveKey(passphrase, header.salt, cost));
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<AesGcm> aead, AesGcm::Create(key));
  const std::vector<uint8_t> aad = file;  // the whole header
  UDMG_RETURN_IF_ERROR(aead->Seal(header.nonce, aad, plaintext, file));
  return file;
}

Result<BackupContents> OpenBackup(std::span<const uint8_t> file,
                                  std::span<const uint8_t> passphrase) {
  UDMG_ASSIGN_OR_RETURN(const Header header, ParseHeader(file));
  UDMG_ASSIGN_OR_RETURN(const SecretBytes key, DeriveKey(passphrase, header.salt, header.cost));
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<AesGcm> aead, AesGcm::Create(key));
  SecretBytes plaintext;
  const Status opened = aead->OpenInto(header.nonce, file.first(kBackupHeaderSize),
                                       file.subspan(kBackupHeaderSize), plaintext);
  if (!opened.ok()) {
    if (opened.code() != ErrorCode::kCorruptValue) return opened.error();  // OpenSSL itself failed
    return Error{ErrorCode::kBadPassphrase,
                 "the backup does not open with this passphrase (or the file was altered)"};
  }
  UDMG_ASSIGN_OR_RETURN(SecretBytes root_key, TakeRootKey(plaintext));
  UDMG_ASSIGN_OR_RETURN(BackupContents contents, ParseContents(plaintext, std::move(root_key)));
  UDMG_RETURN_IF_ERROR(VerifyKeyMaterial(contents));
  return contents;
}

}  // namespace udmg
