// The stored formats (docs/formats.md) against an independent implementation: Python's
// `cryptography` (tests/e2e/udmg_interop.py) reads what udmg-server wrote, and udmg-server reads
// what Python wrote (on PostgreSQL, Python writes to a SQLite mirror and the test copies the
// envelope over).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 40;

// Each test runs on every backend: on PostgreSQL, udmg_interop.py reads a SQLite mirror of the
// test's schema (UdmgServer::database()).
class InteropTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitDemo(server_, kRows));
    RunOk(server_, {"rotate-master-key"});
  }

  // Python seals `plaintext` for credentials.secret row `id` (the bound form when `bound`) in a
  // SQLite file, the test's database or on PostgreSQL its mirror, and prints the envelope, which
  // is then stored in the row of the test's own database. The envelope, or "" after a failure.
  std::string WriteWithPython(int id, const std::string& plaintext, bool bound = false) {
    std::vector<std::string> args = {"write", "--db", server_.database().string(), "--k0",
                                     server_.root_key(), "--column", "credentials.secret",
                                     "--key", std::to_string(id), "--plaintext", plaintext};
    if (bound) args.push_back("--bound");
    ProcessResult written = RunInterop(args);
    EXPECT_EQ(written.exit_code, 0) << written.Describe();
    if (!written.Exited(0)) return "";
    server_.Exec("UPDATE credentials SET secret = '" + written.stdout_data + "' WHERE id = " +
                 std::to_string(id) + ";");
    return written.stdout_data;
  }
};

TEST_P(InteropTest, PythonDecryptsEveryKeyAndValueTheBinaryWrote) {
  // One value migrated by a read, the others still on v1: both versions are exercised.
  RunOk(server_, {"secret", "get", "credentials.secret", "9"});
  auto inspected = InspectWithPython(server_);
  ASSERT_TRUE(inspected);
  EXPECT_EQ((*inspected)["current_root_version"], 1);
  EXPECT_EQ((*inspected)["active_master_version"], 2);
  EXPECT_EQ((*inspected)["fingerprint"], FingerprintOf(server_.root_key()));
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows),
            (std::map<int, int>{{1, kRows - 1}, {2, 1}}));
}

TEST_P(InteropTest, FingerprintColumnIsTheHmacOfTheRootKey) {
  const std::string first = server_.root_key();
  const std::string second = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", second});
  EXPECT_EQ(server_.Exec("SELECT version, fingerprint FROM udmg_root_keys ORDER BY version;"),
            "1|" + FingerprintOf(first) + "\n2|" + FingerprintOf(second) + "\n");
}

TEST_P(InteropTest, PythonFindsTheHistoricalRootKeyAfterRotateK0) {
  const std::string old_key = server_.root_key();
  const std::string new_key = RandomKeyHex();
  RunOk(server_, {"rotate-k0", "--new-key", new_key});
  server_.set_root_key(new_key);
  // Python checks: every K3 opens with Fernet(new K0); root v1's wrapped key opens with it too
  // and is the old K0 (by fingerprint); every value decrypts.
  auto inspected = InspectWithPython(server_, {old_key});
  ASSERT_TRUE(inspected);
  EXPECT_EQ((*inspected)["current_root_version"], 2);
  EXPECT_EQ((*inspected)["old_k0_versions"][FingerprintOf(old_key)], 1);
  ExpectDemoPlaintexts(*inspected, kRows);
  // The old K0 no longer opens anything: the stored K3s are all under the new one.
  ProcessResult with_old = RunInterop({"inspect", "--db", server_.database().string(), "--k0",
                                       old_key});
  EXPECT_EQ(with_old.exit_code, 1) << with_old.Describe();
  EXPECT_EQ(with_old.stderr_data,
            "udmg_interop: the given K0 is not root version 2 (fingerprint)\n")
      << "refused for its key, not for any other error";
}

TEST_P(InteropTest, BinaryReadsAValueWrittenByPython) {
  const std::string plaintext = "written by python: \"quotes\", spaces ";
  const std::string written = WriteWithPython(5, plaintext);
  ASSERT_FALSE(written.empty());
  EXPECT_EQ(written.rfind("udmg:v2:", 0), 0u) << written;

  const std::string before = server_.Dump();
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "5"}).stdout_data, plaintext);
  ExpectDumpUnchanged(server_, before, "reading a value on the active version");
  RunOk(server_, {"verify"});

  // After a rotation the binary migrates Python's value, and Python still reads it.
  RunOk(server_, {"rotate-master-key"});
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "5"}).stdout_data, plaintext);
  auto inspected = InspectWithPython(server_);
  ASSERT_TRUE(inspected);
  EXPECT_EQ((*inspected)["columns"]["credentials.secret"]["5"]["plaintext"], plaintext);
  EXPECT_EQ((*inspected)["columns"]["credentials.secret"]["5"]["version"], 3);
}

TEST_P(InteropTest, EnvelopesAreCanonicalWithFreshNonces) {
  // The same plaintext twice: two different envelopes (a fresh nonce per value).
  RunOk(server_, {"secret", "put", "credentials.secret", "1"}, "same");
  RunOk(server_, {"secret", "put", "credentials.secret", "2"}, "same");
  RunOk(server_, {"secret", "put", "credentials.secret", "3"}, "");
  const std::string values = server_.Exec("SELECT secret FROM credentials ORDER BY id;");
  std::istringstream lines(values);
  std::string line;
  std::vector<std::string> envelopes;
  const std::regex envelope("^udmg:v[1-9][0-9]*:([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$");
  while (std::getline(lines, line)) {
    EXPECT_TRUE(std::regex_match(line, envelope)) << line;
    envelopes.push_back(line);
  }
  ASSERT_EQ(envelopes.size(), static_cast<size_t>(kRows));
  EXPECT_NE(envelopes[0], envelopes[1]);
  // nonce(12) + empty ciphertext + tag(16) = 28 bytes = 40 base64 characters.
  EXPECT_EQ(envelopes[2].size(), std::string("udmg:v2:").size() + 40) << envelopes[2];
  auto inspected = InspectWithPython(server_);
  ASSERT_TRUE(inspected);
  EXPECT_EQ((*inspected)["columns"]["credentials.secret"]["3"]["plaintext"], "");
  EXPECT_EQ((*inspected)["columns"]["credentials.secret"]["1"]["plaintext"], "same");
}

// Row binding (docs/security.md): Python computes the bound AAD (prefix, table, column and key
// separated by zero bytes) on its own and decrypts every value the binary bound.
TEST_P(InteropTest, PythonDecryptsRowBoundValuesWithTheDocumentedAad) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"sweep"});
  auto inspected = InspectWithPython(server_);
  ASSERT_TRUE(inspected);
  EXPECT_EQ(ExpectDemoPlaintexts(*inspected, kRows), (std::map<int, int>{{2, kRows}}));
  for (const auto& [key, value] : (*inspected)["columns"]["credentials.secret"].items()) {
    EXPECT_EQ(value["bound"], true) << "id " << key;
  }
}

TEST_P(InteropTest, BinaryReadsARowBoundValueWrittenByPythonOnlyInItsRow) {
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  const std::string written = WriteWithPython(7, "bound by python", /*bound=*/true);
  ASSERT_FALSE(written.empty());
  EXPECT_EQ(written.rfind("udmg:b2:", 0), 0u) << written;
  EXPECT_EQ(RunOk(server_, {"secret", "get", "credentials.secret", "7"}).stdout_data,
            "bound by python");
  // The same envelope in row 8 does not decrypt: exit 5, row 8 left as it is.
  server_.Exec("UPDATE credentials SET secret = '" + written + "' WHERE id = 8;");
  const std::string before = server_.Dump();
  ExpectOneErrorLine(server_.Run({"secret", "get", "credentials.secret", "8"}), kExitCorrupt);
  ExpectDumpUnchanged(server_, before, "reading a bound value moved to another row");
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(InteropTest);

}  // namespace
}  // namespace udmg::testing
