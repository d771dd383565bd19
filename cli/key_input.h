// Reading a new root key for rotate-k0 from exactly one source: the --new-key argument, a file
// (--new-key-file PATH) or stdin (--new-key -). The key is held only in wiped buffers
// (SecretBytes), read with read(2) so that no stdio buffer keeps a copy; it is never copied into
// argv or the environment (docs/process-hygiene.md).
//
// Key files are read strictly: the file must exist, be at most 4 KiB, and, when it is a regular
// file, must not be readable or writable by group or others (chmod 600), as ssh does for private
// keys. Pipes and process substitution (`--new-key-file <(...)`) are accepted.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg::cli {

inline constexpr size_t kMaxKeyInputBytes = 4096;

// A root key as any of its sources gives it: 64 hex characters, or a sealed root key
// (engine/sealed_root_key.h) unsealed by its PKCS#11 token (cli/token_access.h). `what` names the
// source in messages. kBadKey when malformed or when the token cannot unseal it.
Result<SecretBytes> RootKeyFromText(std::string_view text, std::string_view what);

// A key file's text: 64 lowercase hex characters and a newline, in a wiped buffer.
SecretBytes KeyFileText(std::span<const uint8_t> key);

// `--new-key` text: "-" reads stdin, anything else is the key (hex or sealed). kBadKey when
// malformed.
Result<SecretBytes> NewKeyFromArgument(std::string_view text);
// kBadKey when missing, unreadable, too permissive or malformed.
Result<SecretBytes> NewKeyFromFile(const std::string& path);

// A key file's whole text, not parsed, with the checks above (missing, unreadable, a directory,
// too permissive, too large: kBadKey). `flag` names where the path came from; the path itself is
// named only once the file has opened (text given in its place may be the key itself).
Result<SecretBytes> ReadKeyFile(const std::string& path, std::string_view flag);

}  // namespace udmg::cli
