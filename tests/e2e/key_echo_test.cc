// A key or a passphrase put where the command line expects something else is never echoed: the
// text given to --new-key-file or --passphrase-file, and a stray argument, may be the secret
// itself. Each case runs with a real key (or passphrase), is refused with one error line and its
// documented code, changes nothing, and no piece of the secret appears anywhere in the output.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr char kPassphrase[] = "correct-horse-battery-staple-42";

class KeyEchoTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_TRUE(InitDemo(server_, 3)); }

  // Runs `args`, expects the error shape and `code`, an unchanged database, and no 16-character
  // piece of `secret` (any letter case) in stdout or stderr.
  void ExpectRefusedWithoutEcho(const std::vector<std::string>& args, int code,
                                const std::string& secret) {
    const std::string before = server_.Dump();
    ProcessResult result = server_.Run(args);
    ExpectOneErrorLine(result, code);
    ExpectDumpUnchanged(server_, before, args.front());
    std::vector<std::string> pieces;
    for (size_t at = 0; at + 16 <= secret.size(); ++at) pieces.push_back(secret.substr(at, 16));
    ExpectNoKeyIn(result, pieces);
    ExpectNoKeyIn(result, {server_.root_key()});
  }
};

TEST_P(KeyEchoTest, KeyGivenAsTheNewKeyFileIsNotEchoed) {
  const std::string key = RandomKeyHex();
  ExpectRefusedWithoutEcho({"rotate-k0", "--new-key-file", key}, kExitBadKey, key);
}

TEST_P(KeyEchoTest, SecondKeyAfterNewKeyIsNotEchoed) {
  const std::string first = RandomKeyHex();
  const std::string second = RandomKeyHex();
  ExpectRefusedWithoutEcho({"rotate-k0", "--new-key", first, second}, kExitUsage, second);
  ExpectRefusedWithoutEcho({"rotate-k0", "--new-key=" + first, second}, kExitUsage, second);
}

TEST_P(KeyEchoTest, KeyGivenToRotateMasterKeyIsNotEchoed) {
  const std::string key = RandomKeyHex();
  ExpectRefusedWithoutEcho({"rotate-master-key", key}, kExitUsage, key);
  ExpectRefusedWithoutEcho({"status", key}, kExitUsage, key);
}

TEST_P(KeyEchoTest, PassphraseGivenAsThePassphraseFileIsNotEchoed) {
  const std::string output = (dir_.path() / "backup.udmg").string();
  ExpectRefusedWithoutEcho(
      {"passphrase-backup", "--output", output, "--passphrase-file", kPassphrase}, kExitBadInput,
      kPassphrase);
  ExpectRefusedWithoutEcho({"passphrase-restore", "--input", output, "--verify-only",
                            "--passphrase-file", kPassphrase},
                           kExitNotFound, kPassphrase);
}

TEST_P(KeyEchoTest, KeyGivenWhereANumberIsExpectedIsNotEchoed) {
  const std::string key = RandomKeyHex();
  ExpectRefusedWithoutEcho({"sweep", "--batch-size", key}, kExitUsage, key);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(KeyEchoTest);

}  // namespace
}  // namespace udmg::testing
