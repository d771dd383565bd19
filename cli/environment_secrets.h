// Secrets given in the environment (UDMG_SECURITY_PASSPHRASE_KEY, UDMG_BACKUP_PASSPHRASE): taken
// out of it once at start, so /proc/PID/environ and every child process no longer show them, and
// kept in wiped memory for the commands that read them.
//
// Thread-safety: TakeSecretsFromEnvironment changes the environment; call it from main before any
// other thread exists. SecretFromEnvironment may then be called from any thread.
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>

#include "engine/secret.h"

namespace udmg::cli {

// For each name: copies the value into wiped memory, overwrites the value's bytes where the
// environment holds them (the block /proc/PID/environ reads), then unsetenv. Called again, it
// takes the names not taken yet.
void TakeSecretsFromEnvironment(std::initializer_list<std::string_view> names);

// The value of `name`, nullopt when it was unset: as taken at start when it was, else (a library
// or a unit test that never took it) read from the environment as it is now, and left there.
std::optional<SecretBytes> SecretFromEnvironment(std::string_view name);

}  // namespace udmg::cli
