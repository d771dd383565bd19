// This node's K0 from each of its sources (cli/root_key_source.h), through the binary:
// UDMG_SECURITY_PASSPHRASE_KEY, UDMG_SECURITY_PASSPHRASE_KEY_FILE and the systemd credential
// $CREDENTIALS_DIRECTORY/udmg-k0. Each source works alone and `doctor` and `status` name it; two
// or more are refused (exit 3, one line naming each, nothing changed); a key file or credential
// that group or others can read is refused; the key is never echoed.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/doctor_helpers.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kRows = 3;
constexpr fs::perms kOwnerRead = fs::perms::owner_read;

class RootKeySourceTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitDemo(server_, kRows));
    RecordBackupRow(server_);  // so that doctor is healthy: the key source is all that varies
    key_ = server_.root_key();
    // The key file as an operator writes it (`openssl rand -hex 32 > k0`): a trailing newline.
    ASSERT_TRUE(WriteFile(key_file_, key_ + "\n"));
    fs::create_directory(credentials_);
    ASSERT_TRUE(WriteFile(credentials_ / "udmg-k0", key_ + "\n", kOwnerRead));  // as systemd
  }

  // The server with no K0 in its environment: the test names the sources.
  UdmgServer Without() const {
    UdmgServer server = server_;
    server.clear_root_key();
    return server;
  }
  UdmgServer WithKeyFile() const {
    UdmgServer server = Without();
    server.set_env(kKeyFileEnv, key_file_.string());
    return server;
  }
  UdmgServer WithCredential() const {
    UdmgServer server = Without();
    server.set_env(kCredentialsEnv, credentials_.string());
    return server;
  }

  // The source works: a value decrypts, status and doctor name `source`, no key is shown.
  void ExpectWorks(const UdmgServer& server, const std::string& source) {
    ProcessResult get = RunOk(server, {"secret", "get", "credentials.secret", "1"});
    EXPECT_EQ(get.stdout_data, "demo-secret-1");
    ExpectNoKeyIn(get, {key_});

    ProcessResult status = RunOk(server, {"status", "--json"});
    ExpectNoKeyIn(status, {key_});
    nlohmann::json node = nlohmann::json::parse(status.stdout_data)["this_node"];
    EXPECT_EQ(node["root_key"], "current") << node;
    EXPECT_TRUE(Contains(node["source"].get<std::string>(), source)) << node;

    ProcessResult doctor = RunOk(server, {"doctor"});
    ExpectNoKeyIn(doctor, {key_});
    EXPECT_TRUE(Contains(doctor.stdout_data, "ok      root_key_env: the root key comes from " +
                                                  source))
        << doctor.stdout_data;
  }

  // Refused with exit 3 and one error line holding each of `mentions`, nothing changed, no key
  // shown; `status` still answers (exit 0) and calls the key unusable.
  void ExpectRefused(const UdmgServer& server, const std::vector<std::string>& mentions) {
    const std::string before = server.Dump();
    for (const std::vector<std::string>& command :
         std::vector<std::vector<std::string>>{{"secret", "get", "credentials.secret", "1"},
                                               {"rotate-master-key"},
                                               {"sweep"}}) {
      SCOPED_TRACE(command[0]);
      ProcessResult result = server.Run(command);
      ExpectOneErrorLine(result, kExitBadKey);
      ExpectNoKeyIn(result, {key_});
      for (const std::string& mention : mentions) {
        EXPECT_TRUE(Contains(result.stderr_data, mention))
            << "should name " << mention << ": " << result.stderr_data;
      }
    }
    ExpectDumpUnchanged(server, before, "a refused root key source");
    ProcessResult status = RunOk(server, {"status", "--json"});
    ExpectNoKeyIn(status, {key_});
    EXPECT_EQ(nlohmann::json::parse(status.stdout_data)["this_node"]["root_key"], "unusable");
  }

  std::string key_;
  fs::path key_file_ = dir_.path() / "k0.hex";
  fs::path credentials_ = dir_.path() / "credentials";
};

TEST_P(RootKeySourceTest, EnvironmentVariableIsTheDefaultSource) {
  ExpectWorks(server_, kKeyEnv);
}

TEST_P(RootKeySourceTest, KeyFileIsASource) {
  ExpectWorks(WithKeyFile(), std::string(kKeyFileEnv) + " (" + key_file_.string() + ")");
}

TEST_P(RootKeySourceTest, SystemdCredentialIsASource) {
  ExpectWorks(WithCredential(), "systemd credential udmg-k0");
}

TEST_P(RootKeySourceTest, InitTakesTheKeyFromAFile) {
  TempDir fresh_dir;
  UdmgServer fresh{fresh_dir.path()};
  UdmgServer with_file = fresh;  // the same database
  with_file.set_env(kKeyFileEnv, key_file_.string());
  RunOk(with_file, {"init"});
  fresh.set_root_key(key_);
  nlohmann::json status = *StatusJson(fresh);
  EXPECT_EQ(status["this_node"]["root_key"], "current") << status;
}

TEST_P(RootKeySourceTest, CredentialsDirectoryWithoutOurCredentialIsNoSource) {
  // systemd sets CREDENTIALS_DIRECTORY for any credential of a unit: only udmg-k0 counts.
  TempDir other;
  UdmgServer server = server_;
  server.set_env(kCredentialsEnv, other.path().string());
  ExpectWorks(server, kKeyEnv);
}

TEST_P(RootKeySourceTest, EnvironmentAndKeyFileAreRefusedNamingBoth) {
  UdmgServer server = server_;
  server.set_env(kKeyFileEnv, key_file_.string());
  ExpectRefused(server, {"more than one source", kKeyEnv, kKeyFileEnv});
}

TEST_P(RootKeySourceTest, EnvironmentAndCredentialAreRefusedNamingBoth) {
  UdmgServer server = server_;
  server.set_env(kCredentialsEnv, credentials_.string());
  ExpectRefused(server, {"more than one source", std::string(kKeyEnv) + " and systemd credential"});
}

TEST_P(RootKeySourceTest, KeyFileAndCredentialAreRefusedNamingBoth) {
  UdmgServer server = WithKeyFile();
  server.set_env(kCredentialsEnv, credentials_.string());
  ExpectRefused(server, {"more than one source", kKeyFileEnv, "systemd credential udmg-k0"});
}

TEST_P(RootKeySourceTest, AllThreeSourcesAreRefusedNamingEach) {
  UdmgServer server = server_;
  server.set_env(kKeyFileEnv, key_file_.string());
  server.set_env(kCredentialsEnv, credentials_.string());
  ExpectRefused(server, {"more than one source", std::string(kKeyEnv) + ", ", kKeyFileEnv,
                         "systemd credential udmg-k0"});
}

TEST_P(RootKeySourceTest, KeyFileReadableByOthersIsRefused) {
  fs::permissions(key_file_, fs::perms::others_read, fs::perm_options::add);
  ExpectRefused(WithKeyFile(), {kKeyFileEnv, "chmod 600"});
}

TEST_P(RootKeySourceTest, CredentialReadableByGroupIsRefused) {
  fs::permissions(credentials_ / "udmg-k0", fs::perms::group_read, fs::perm_options::add);
  ExpectRefused(WithCredential(), {"systemd credential udmg-k0", "chmod 600"});
}

TEST_P(RootKeySourceTest, MissingKeyFileIsRefused) {
  fs::remove(key_file_);
  // The path is not shown: text given in its place may be the key itself.
  const UdmgServer server = WithKeyFile();
  ExpectRefused(server, {kKeyFileEnv, "cannot be opened"});
  ProcessResult result = server.Run({"rotate-master-key"});
  EXPECT_FALSE(Contains(result.stderr_data, key_file_.string())) << result.stderr_data;
}

TEST_P(RootKeySourceTest, MalformedKeyFileIsRefusedWithItsLengthOnly) {
  ASSERT_TRUE(WriteFile(key_file_, key_.substr(0, 63) + "\n"));
  const UdmgServer server = WithKeyFile();
  const std::string before = server.Dump();
  ProcessResult result = server.Run({"rotate-master-key"});
  ExpectOneErrorLine(result, kExitBadKey);
  ExpectNoKeyIn(result, {key_, key_.substr(0, 63)});
  EXPECT_TRUE(Contains(result.stderr_data, kKeyFileEnv)) << result.stderr_data;
  EXPECT_TRUE(Contains(result.stderr_data, "63")) << result.stderr_data;
  ExpectDumpUnchanged(server, before, "rotate-master-key with a malformed key file");

  ExpectDoctorFinding(server, kExitUnhealthy, "root_key_env",
                      {.status = "problem", .in_fix = {kKeyFileEnv}});
}

TEST_P(RootKeySourceTest, NoSourceNamesEveryChoice) {
  ProcessResult result = Without().Run({"verify"});
  ExpectOneErrorLine(result, kExitBadKey);
  for (const char* choice : {kKeyEnv, kKeyFileEnv, "udmg-k0"}) {
    EXPECT_TRUE(Contains(result.stderr_data, choice)) << result.stderr_data;
  }
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(RootKeySourceTest);

}  // namespace
}  // namespace udmg::testing
