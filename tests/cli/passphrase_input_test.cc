// cli/passphrase_input: the three sources in order, strict passphrase files, and the terminal
// prompt driven through a pseudo-terminal (echo really off, restored after, asked twice to seal).
#include "cli/passphrase_input.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/temp_dir.h"

namespace udmg::cli {
namespace {

using ::udmg::testing::TempDir;

constexpr char kGood[] = "a long enough backup passphrase";

std::string Text(const SecretBytes& bytes) { return std::string(AsText(bytes)); }

// UDMG_BACKUP_PASSPHRASE set (or unset) for one test, restored after.
class ScopedPassphraseEnv {
 public:
  explicit ScopedPassphraseEnv(const char* value) {
    if (const char* old = std::getenv(kName)) saved_ = old;
    if (value) {
      ::setenv(kName, value, 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ~ScopedPassphraseEnv() {
    if (saved_) {
      ::setenv(kName, saved_->c_str(), 1);
    } else {
      ::unsetenv(kName);
    }
  }

 private:
  static constexpr char kName[] = "UDMG_BACKUP_PASSPHRASE";
  std::optional<std::string> saved_;
};

// stdin replaced by /dev/null (never a terminal) for one test, so nothing can wait for a person.
class StdinFromDevNull {
 public:
  StdinFromDevNull() : saved_(::dup(STDIN_FILENO)) {
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::close(null);
  }
  ~StdinFromDevNull() {
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
  }

 private:
  int saved_;
};

class PassphraseFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content,
                    std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                   std::filesystem::perms::owner_write) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
    std::filesystem::permissions(path_, perms);
    return path_.string();
  }

  TempDir dir_{"udmg-cli-test."};
  std::filesystem::path path_ = dir_.path() / "passphrase";
};

TEST_F(PassphraseFileTest, OneLineEndIsNotPartOfThePassphrase) {
  for (const char* ending : {"", "\n", "\r\n"}) {
    auto read = ReadPassphrase(Write(std::string(kGood) + ending), PassphrasePurpose::kSeal);
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(Text(*read), kGood);
  }
  // Inner and trailing spaces are part of it.
  auto spaced = ReadPassphrase(Write(" two words  \n"), PassphrasePurpose::kOpen);
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(Text(*spaced), " two words  ");
}

TEST_F(PassphraseFileTest, FileAccessibleByOthersIsRefusedWithTheFix) {
  auto read = ReadPassphrase(Write(kGood, std::filesystem::perms::owner_read |
                                              std::filesystem::perms::group_read),
                             PassphrasePurpose::kOpen);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
  EXPECT_NE(read.error().message.find("chmod 600"), std::string::npos) << read.error().message;
  EXPECT_NE(read.error().message.find("0440"), std::string::npos) << read.error().message;
}

TEST_F(PassphraseFileTest, EmptyMultiLineTooLongAndMissingAreBadInput) {
  for (const std::string& content :
       {std::string(""), std::string("\n"), std::string(kGood) + "\nsecond line\n",
        std::string(kMaxPassphraseBytes + 1, 'p')}) {
    auto read = ReadPassphrase(Write(content), PassphrasePurpose::kOpen);
    ASSERT_FALSE(read.ok()) << content.size();
    EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
    EXPECT_EQ(read.error().message.find(kGood), std::string::npos);
  }
  auto longest = ReadPassphrase(Write(std::string(kMaxPassphraseBytes, 'p') + "\r\n"),
                                PassphrasePurpose::kOpen);
  EXPECT_TRUE(longest.ok());
  auto missing = ReadPassphrase((dir_.path() / "none").string(), PassphrasePurpose::kOpen);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kBadInput);
}

TEST_F(PassphraseFileTest, SealingNeedsTwelveCharactersOpeningDoesNot) {
  const std::string eleven = "elevenchars";
  auto sealed = ReadPassphrase(Write(eleven), PassphrasePurpose::kSeal);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code, ErrorCode::kBadInput);
  EXPECT_NE(sealed.error().message.find("12"), std::string::npos) << sealed.error().message;
  EXPECT_TRUE(ReadPassphrase(Write(eleven), PassphrasePurpose::kOpen).ok());
  EXPECT_TRUE(ReadPassphrase(Write(eleven + "x"), PassphrasePurpose::kSeal).ok());
}

TEST_F(PassphraseFileTest, TheFileWinsOverTheEnvironment) {
  ScopedPassphraseEnv env("the passphrase from the environment");
  auto read = ReadPassphrase(Write(kGood), PassphrasePurpose::kOpen);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(Text(*read), kGood);
}

TEST(PassphraseEnvTest, TheEnvironmentIsUsedAsItIs) {
  ScopedPassphraseEnv env(" from the environment ");
  auto read = ReadPassphrase("", PassphrasePurpose::kSeal);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(Text(*read), " from the environment ");
}

TEST(PassphraseEnvTest, AnEmptyOrShortEnvironmentValueIsRefused) {
  {
    ScopedPassphraseEnv env("");
    EXPECT_EQ(ReadPassphrase("", PassphrasePurpose::kOpen).error().code, ErrorCode::kBadInput);
  }
  ScopedPassphraseEnv env("short");
  EXPECT_EQ(ReadPassphrase("", PassphrasePurpose::kSeal).error().code, ErrorCode::kBadInput);
}

TEST(PassphraseEnvTest, NoSourceAndNoTerminalNamesTheThreeWays) {
  ScopedPassphraseEnv env(nullptr);
  StdinFromDevNull no_terminal;
  auto read = ReadPassphrase("", PassphrasePurpose::kOpen);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
  for (const char* way : {"--passphrase-file", "UDMG_BACKUP_PASSPHRASE", "terminal"}) {
    EXPECT_NE(read.error().message.find(way), std::string::npos) << read.error().message;
  }
}

TEST(PromptNonTerminalTest, IsRefused) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* sink = std::tmpfile();
  auto read = PromptPassphrase(fds[0], sink, PassphrasePurpose::kOpen);
  std::fclose(sink);
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
}

// A pseudo-terminal: the prompt reads the subsidiary side; the test types on the main side.
class PromptPassphraseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    main_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(main_, 0);
    ASSERT_EQ(::grantpt(main_), 0);
    ASSERT_EQ(::unlockpt(main_), 0);
    terminal_ = ::open(::ptsname(main_), O_RDWR | O_NOCTTY);
    ASSERT_GE(terminal_, 0);
    prompt_out_ = ::fdopen(::dup(terminal_), "w");
    ASSERT_NE(prompt_out_, nullptr);
  }
  void TearDown() override {
    if (prompt_out_) std::fclose(prompt_out_);
    if (terminal_ >= 0) ::close(terminal_);
    if (main_ >= 0) ::close(main_);
  }

  bool EchoOn() const {
    termios settings{};
    return ::tcgetattr(terminal_, &settings) == 0 && (settings.c_lflag & ECHO) != 0;
  }

  // Runs the prompt on a thread; types `typed` once echo is off (typing earlier would be
  // discarded by the prompt's flush). Returns the prompt's result.
  Result<SecretBytes> Prompt(PassphrasePurpose purpose, const std::string& typed) {
    std::optional<Result<SecretBytes>> result;
    std::thread prompt([&] { result = PromptPassphrase(terminal_, prompt_out_, purpose); });
    // A condition, not a delay: the prompt turns echo off before it reads anything.
    for (int i = 0; i < 10000 && EchoOn(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_FALSE(EchoOn()) << "the prompt never turned echo off";
    EXPECT_EQ(::write(main_, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
    prompt.join();
    return std::move(*result);
  }

  // Everything the terminal showed (prompts and any echo).
  std::string Shown() {
    std::fflush(prompt_out_);
    ::fcntl(main_, F_SETFL, ::fcntl(main_, F_GETFL) | O_NONBLOCK);
    std::string shown;
    char buffer[512];
    ssize_t got;
    while ((got = ::read(main_, buffer, sizeof(buffer))) > 0) shown.append(buffer, got);
    return shown;
  }

  int main_ = -1;
  int terminal_ = -1;
  std::FILE* prompt_out_ = nullptr;
};

TEST_F(PromptPassphraseTest, SealingAsksTwiceWithoutEchoAndRestoresTheTerminal) {
  ASSERT_TRUE(EchoOn());
  auto read = Prompt(PassphrasePurpose::kSeal, std::string(kGood) + "\n" + kGood + "\n");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(Text(*read), kGood);
  EXPECT_TRUE(EchoOn()) << "echo must be restored";
  const std::string shown = Shown();
  EXPECT_NE(shown.find("passphrase for the new backup"), std::string::npos) << shown;
  EXPECT_NE(shown.find("again"), std::string::npos) << shown;
  EXPECT_EQ(shown.find(kGood), std::string::npos) << "the passphrase was echoed: " << shown;
}

TEST_F(PromptPassphraseTest, TwoDifferentAnswersAreRefused) {
  auto read = Prompt(PassphrasePurpose::kSeal, std::string(kGood) + "\nsomething else entirely\n");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
  EXPECT_NE(read.error().message.find("differ"), std::string::npos) << read.error().message;
  EXPECT_TRUE(EchoOn());
}

TEST_F(PromptPassphraseTest, OpeningAsksOnceAndTakesAShortPassphrase) {
  auto read = Prompt(PassphrasePurpose::kOpen, "short\r\n");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(Text(*read), "short");
  EXPECT_EQ(Shown().find("again"), std::string::npos);
}

TEST_F(PromptPassphraseTest, AnEmptyAnswerIsRefused) {
  auto read = Prompt(PassphrasePurpose::kOpen, "\n");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kBadInput);
}

}  // namespace
}  // namespace udmg::cli
