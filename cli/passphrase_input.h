// The passphrase of a backup file (passphrase-backup, passphrase-restore), from exactly one
// source, first found wins:
//   1. --passphrase-file PATH: the first line of the file (a final "\n" or "\r\n" is not part of
//      it; a second line is refused). Read strictly, as key files are (cli/key_input.h): at most
//      kMaxPassphraseBytes, and a regular file must not be accessible by group or others.
//   2. UDMG_BACKUP_PASSPHRASE, as it is.
//   3. A prompt on the terminal with echo off, when stdin is a terminal: asked twice for a new
//      backup (both must match), once to open one.
// No source at all is kBadInput naming the three. The passphrase lives only in wiped buffers.
//
// Thread-safety: reads the environment and the terminal; call from one thread.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/secret.h"

namespace udmg::cli {

inline constexpr std::string_view kBackupPassphraseEnv = "UDMG_BACKUP_PASSPHRASE";
inline constexpr size_t kMaxPassphraseBytes = 1024;

enum class PassphrasePurpose {
  kSeal,  // a new backup: prompted twice; shorter than kMinBackupPassphraseLength is kBadInput
  kOpen,  // an existing backup: prompted once; any non-empty passphrase
};

// `file` is --passphrase-file ("" when not given). Errors are kBadInput, one line, never the
// passphrase.
Result<SecretBytes> ReadPassphrase(const std::string& file, PassphrasePurpose purpose);

// The terminal prompt alone, on explicit streams (so a test can drive it through a
// pseudo-terminal): writes each prompt to `prompt_out`, reads one line from `terminal_fd` with
// echo turned off (restored afterwards, also on error). kBadInput when the answers differ (kSeal),
// the line is empty, too long, or the input ends first.
Result<SecretBytes> PromptPassphrase(int terminal_fd, std::FILE* prompt_out,
                                     PassphrasePurpose purpose);

}  // namespace udmg::cli
