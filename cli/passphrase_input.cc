#include "cli/passphrase_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "cli/environment_secrets.h"
#include "cli/secure_file.h"
#include "engine/backup.h"

namespace udmg::cli {
namespace {

Error NoSource() {
  return Error{ErrorCode::kBadInput,
               "no passphrase given: pass --passphrase-file PATH, set " +
                   std::string(kBackupPassphraseEnv) +
                   ", or run on a terminal to be asked for it"};
}

// Drops one final line end ("\n" or "\r\n"): `echo secret > file` must give "secret".
void DropLineEnd(SecretBytes& text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
}

Status CheckOneLine(const SecretBytes& text, const std::string& what) {
  if (text.empty()) {
    return Error{ErrorCode::kBadInput, what + " is empty: it must hold the backup passphrase"};
  }
  for (uint8_t byte : text) {
    if (byte == '\n') {
      return Error{ErrorCode::kBadInput,
                   what + " holds more than one line: put only the passphrase in it"};
    }
  }
  return Status::Ok();
}

Result<SecretBytes> ReadPassphraseFile(const std::string& path) {
  const std::string what = "--passphrase-file " + path;
  UDMG_ASSIGN_OR_RETURN(ScopedFd file,
                        OpenSecretFile(path, "--passphrase-file", ErrorCode::kBadInput));
  // Room for "\r\n" after a longest passphrase.
  std::optional<SecretBytes> read = ReadSecretUpTo(file.get(), kMaxPassphraseBytes + 3);
  if (!read) {
    return Error{ErrorCode::kBadInput, what + " could not be read: " + std::strerror(errno)};
  }
  SecretBytes text = std::move(*read);
  DropLineEnd(text);
  if (text.size() > kMaxPassphraseBytes) {
    return Error{ErrorCode::kBadInput, what + " is larger than " +
                                           std::to_string(kMaxPassphraseBytes) +
                                           " bytes: it must hold only the passphrase"};
  }
  UDMG_RETURN_IF_ERROR(CheckOneLine(text, what));
  return text;
}

Result<SecretBytes> PassphraseFromEnvironment(SecretBytes passphrase) {
  const std::string what = std::string(kBackupPassphraseEnv);
  if (passphrase.size() > kMaxPassphraseBytes) {
    return Error{ErrorCode::kBadInput, what + " is longer than " +
                                           std::to_string(kMaxPassphraseBytes) + " bytes"};
  }
  UDMG_RETURN_IF_ERROR(CheckOneLine(passphrase, what));
  return passphrase;
}

// Turns terminal echo off for its lifetime and restores the saved settings after.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ICANON;
    active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

// One line from the terminal, without its line end. nullopt-like errors are kBadInput.
Result<SecretBytes> ReadLine(int fd, std::FILE* prompt_out, const char* prompt) {
  std::fputs(prompt, prompt_out);
  std::fflush(prompt_out);
  SecretBytes line;
  line.reserve(kMaxPassphraseBytes + 1);  // no reallocation: every byte stays in one wiped block
  bool ended = false;
  while (true) {
    uint8_t byte = 0;
    ssize_t got = ::read(fd, &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (byte == '\n') {
      ended = true;
      break;
    }
    if (line.size() == kMaxPassphraseBytes) {
      return Error{ErrorCode::kBadInput, "the passphrase is longer than " +
                                             std::to_string(kMaxPassphraseBytes) + " bytes"};
    }
    line.push_back(byte);
  }
  std::fputs("\n", prompt_out);  // echo is off: the operator's Enter did not show
  std::fflush(prompt_out);
  if (!ended) {
    return Error{ErrorCode::kBadInput, "the terminal input ended before a passphrase was given"};
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return Error{ErrorCode::kBadInput, "no passphrase was typed: type the backup passphrase"};
  }
  return line;
}

Status CheckSealLength(const SecretBytes& passphrase) {
  if (passphrase.size() >= kMinBackupPassphraseLength) return Status::Ok();
  return Error{ErrorCode::kBadInput, "the passphrase is shorter than " +
                                         std::to_string(kMinBackupPassphraseLength) +
                                         " characters: choose a longer one for the backup"};
}

}  // namespace

Result<SecretBytes> PromptPassphrase(int terminal_fd, std::FILE* prompt_out,
                                     PassphrasePurpose purpose) {
  EchoOff echo_off(terminal_fd);
  if (!echo_off.active()) {
    return Error{ErrorCode::kBadInput, "cannot turn off echo on the terminal to ask for the "
                                       "passphrase: pass --passphrase-file PATH instead"};
  }
  if (purpose == PassphrasePurpose::kOpen) {
    return ReadLine(terminal_fd, prompt_out, "passphrase of the backup: ");
  }
  UDMG_ASSIGN_OR_RETURN(SecretBytes first,
                        ReadLine(terminal_fd, prompt_out, "passphrase for the new backup: "));
  UDMG_RETURN_IF_ERROR(CheckSealLength(first));
  UDMG_ASSIGN_OR_RETURN(SecretBytes second,
                        ReadLine(terminal_fd, prompt_out, "the same passphrase again: "));
  if (!SafeEquals(first, second)) {
    return Error{ErrorCode::kBadInput, "the two passphrases differ: run again and type the same "
                                       "passphrase twice"};
  }
  return first;
}

Result<SecretBytes> ReadPassphrase(const std::string& file, PassphrasePurpose purpose) {
  std::optional<Result<SecretBytes>> read;
  if (!file.empty()) {
    read = ReadPassphraseFile(file);
  } else if (std::optional<SecretBytes> value = SecretFromEnvironment(kBackupPassphraseEnv)) {
    read = PassphraseFromEnvironment(std::move(*value));
  } else if (::isatty(STDIN_FILENO)) {
    read = PromptPassphrase(STDIN_FILENO, stderr, purpose);
  } else {
    return NoSource();
  }
  if (!read->ok()) return read->error();
  SecretBytes passphrase = std::move(*read).value();
  if (purpose == PassphrasePurpose::kSeal) UDMG_RETURN_IF_ERROR(CheckSealLength(passphrase));
  return passphrase;
}

}  // namespace udmg::cli
