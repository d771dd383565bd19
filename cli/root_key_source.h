// Where this node's root key K0 comes from. Exactly one source may be configured:
//   - UDMG_SECURITY_PASSPHRASE_KEY: the key itself, 64 hex characters (the default);
//   - UDMG_SECURITY_PASSPHRASE_KEY_FILE=PATH: a file holding it, read as strictly as a
//     --new-key-file (owner-only mode, at most 4 KiB, surrounding whitespace trimmed);
//   - the systemd credential udmg-k0: $CREDENTIALS_DIRECTORY/udmg-k0 when that file exists
//     (LoadCredential= / LoadCredentialEncrypted= in the unit), read with the same checks.
// A variable that is set counts as configured even when empty. Two or more sources are refused
// (kBadKey naming each), so a node never runs on a key the operator did not mean.
//
// The one home of that choice: a new source is one more entry in ConfiguredRootKeySources
// (root_key_source.cc) and one more way to read it there. Nothing here echoes key material.
//
// Thread-safety: reads the environment and files only; call after main took the secrets out of
// the environment (cli/environment_secrets.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg::cli {

inline constexpr std::string_view kRootKeyFileEnv = "UDMG_SECURITY_PASSPHRASE_KEY_FILE";
inline constexpr std::string_view kRootKeyCredential = "udmg-k0";

// K0's text as its source gave it (not parsed yet), and how messages name that source, e.g.
// "UDMG_SECURITY_PASSPHRASE_KEY_FILE /etc/udmg/k0" or "systemd credential udmg-k0".
struct RootKeyText {
  std::string source;
  SecretBytes text;
};

// Every way a root key can be given, for messages: "UDMG_SECURITY_PASSPHRASE_KEY,
// UDMG_SECURITY_PASSPHRASE_KEY_FILE or the systemd credential udmg-k0".
std::string RootKeySourceChoices();

// The text from the one configured source; nullopt when none is. kBadKey when two or more are
// configured, or when the file or credential cannot be read (missing, accessible by group or
// others, larger than 4 KiB).
Result<std::optional<RootKeyText>> ReadRootKeyText();

// K0 parsed from its source: kBadKey when no source is configured, as ReadRootKeyText, or when
// the text is not 64 hex characters.
Result<SecretBytes> LoadRootKey();

}  // namespace udmg::cli
