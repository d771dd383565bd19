// The root key K0 sealed by an AES key on a PKCS#11 token (docs/hsm.md), through the binary,
// against a real SoftHSM2 token made for each test in its own directory: seal-k0 and unseal-k0,
// a node running on its sealed key (init, rotate-k0 to a sealed new key, rotate-master-key
// --reencrypt, passphrase-backup and -restore), a plain and a sealed node sharing one database,
// doctor's report, and every token problem refused with exit 3, one line, nothing changed and
// neither the key nor the PIN shown. The sealed node is never given K0 itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/doctor_helpers.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kRows = 3;
constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kToken = "udmg-test";
constexpr const char* kWrapKey = "k0-wrap";
// Long and distinctive, so that finding it in an output means it leaked.
constexpr const char* kPin = "pin-7c1e94b20d5a";

// A SoftHSM2 token store of its own (softhsm2.conf and tokens/ in `dir`).
class SoftHsm {
 public:
  explicit SoftHsm(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir_ / "tokens");
    WriteFile(dir_ / "softhsm2.conf", "directories.tokendir = " + (dir_ / "tokens").string() +
                                          "\nobjectstore.backend = file\nlog.level = ERROR\n");
  }

  std::string config() const { return (dir_ / "softhsm2.conf").string(); }

  // softhsm2-util or pkcs11-tool with this store; fails the test unless it exits 0.
  void Tool(const std::string& program, std::vector<std::string> args) const {
    ProcessResult result =
        RunTool({.program = program, .args = std::move(args), .env = {{"SOFTHSM2_CONF", config()}}});
    ASSERT_TRUE(result.Exited(0)) << program << ": " << result.Describe();
  }
  void InitToken(const std::string& label) const {
    Tool("softhsm2-util", {"--init-token", "--free", "--label", label, "--pin", kPin,
                           "--so-pin", "so-pin-5678"});
  }
  // `key_type` as pkcs11-tool spells it (AES:32, GENERIC:32); `options` such as --sensitive.
  void GenerateKey(const std::string& label, const std::string& key_type,
                   std::vector<std::string> options = {"--sensitive", "--usage-wrap"}) const {
    std::vector<std::string> args = {"--module", kSoftHsmModule, "--token-label", kToken,
                                     "--login", "--pin", kPin, "--keygen", "--key-type",
                                     key_type, "--label", label};
    args.insert(args.end(), options.begin(), options.end());
    Tool("pkcs11-tool", args);
  }
  void DeleteKey(const std::string& label) const {
    Tool("pkcs11-tool", {"--module", kSoftHsmModule, "--token-label", kToken, "--login",
                         "--pin", kPin, "--delete-object", "--type", "secrkey", "--label", label});
  }

 private:
  fs::path dir_;
};

class SealedRootKeyTest : public ::testing::TestWithParam<db::testing::StoreBackend> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kSoftHsmModule)) << "install softhsm2 (scripts/setup.sh)";
    hsm_.InitToken(kToken);
    hsm_.GenerateKey(kWrapKey, "AES:32");
    ASSERT_TRUE(WriteFile(pin_file_, std::string(kPin) + "\n"));
    key_ = RandomKeyHex();
    ASSERT_TRUE(WriteFile(plain_file_, key_ + "\n"));
    ProcessResult sealed = Seal(plain_file_, sealed_file_);
    ASSERT_TRUE(sealed.Exited(kExitOk)) << sealed.Describe();
  }

  // The server of the test's database with the token's environment and no root key.
  UdmgServer WithToken() const {
    UdmgServer server = base_;
    server.set_env("SOFTHSM2_CONF", hsm_.config());
    server.set_env("UDMG_PKCS11_MODULE", kSoftHsmModule);
    server.set_env("UDMG_PKCS11_PIN_FILE", pin_file_.string());
    return server;
  }
  // A node whose K0 is the sealed key in `sealed_file`.
  UdmgServer Sealed(const fs::path& sealed_file) const {
    UdmgServer server = WithToken();
    server.set_env(kKeyFileEnv, sealed_file.string());
    return server;
  }
  // The sealed node through tests/e2e/pkcs11_fault_module.cc: SoftHSM2 with `fault` injected.
  UdmgServer SealedWithFault(const std::string& fault) const {
    UdmgServer server = Sealed(sealed_file_);
    server.set_env("UDMG_PKCS11_MODULE", UDMG_PKCS11_FAULT_MODULE);
    server.set_env("UDMG_TEST_PKCS11_MODULE", kSoftHsmModule);
    server.set_env("UDMG_TEST_PKCS11_FAULT", fault);
    return server;
  }
  // A node given K0 in plain (UDMG_SECURITY_PASSPHRASE_KEY).
  UdmgServer Plain(const std::string& key_hex) const {
    UdmgServer server = base_;
    server.set_root_key(key_hex);
    return server;
  }

  // seal-k0 of the plain key in `plain_file` into `output`.
  ProcessResult Seal(const fs::path& plain_file, const fs::path& output,
                     const std::string& key_label = kWrapKey,
                     std::vector<std::string> extra = {}) const {
    UdmgServer server = WithToken();
    server.set_env(kKeyFileEnv, plain_file.string());
    std::vector<std::string> args = {"seal-k0", "--output", output.string(), "--token-label",
                                     kToken, "--key-label", key_label};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult result = server.Run(args);
    ExpectNoSecretIn(result);
    return result;
  }

  // Neither a root key of this test nor the PIN in the output; no K0 in the sealed node's
  // environment.
  void ExpectNoSecretIn(const ProcessResult& result) const {
    std::vector<std::string> secrets = keys_;
    secrets.push_back(key_);
    ExpectNoKeyIn(result, secrets);
    EXPECT_FALSE(Contains(result.stdout_data + result.stderr_data, kPin)) << result.Describe();
  }
  void ExpectNoKeyInEnvironment(const UdmgServer& server) const {
    Invocation invocation = server.Command({"status"});
    for (const auto& [name, value] : invocation.env) {
      EXPECT_FALSE(Contains(value, key_)) << name;
      for (const std::string& key : keys_) EXPECT_FALSE(Contains(value, key)) << name;
    }
  }

  ProcessResult Ok(const UdmgServer& server, std::vector<std::string> args,
                   std::string stdin_data = "") const {
    ProcessResult result = RunOk(server, std::move(args), std::move(stdin_data));
    ExpectNoSecretIn(result);
    return result;
  }

  // Initialises the database on the sealed node and fills it with the demo rows.
  void InitSealed() {
    UdmgServer sealed = Sealed(sealed_file_);
    ProcessResult init = Ok(sealed, {"init"});
    EXPECT_TRUE(Contains(init.stdout_data, "fingerprint " + FingerprintOf(key_))) << init.stdout_data;
    Ok(sealed, {"demo", "--rows", std::to_string(kRows)});
  }

  // `server` refuses every command that needs K0 with exit 3, one line holding each of
  // `mentions`, nothing changed and no secret shown.
  void ExpectRefused(const UdmgServer& server, const std::vector<std::string>& mentions) {
    const std::string before = Plain(key_).Dump();
    for (const std::vector<std::string>& command :
         std::vector<std::vector<std::string>>{{"secret", "get", "credentials.secret", "1"},
                                               {"rotate-master-key"}}) {
      SCOPED_TRACE(command[0]);
      ProcessResult result = server.Run(command);
      ExpectOneErrorLine(result, kExitBadKey);
      ExpectNoSecretIn(result);
      for (const std::string& mention : mentions) {
        EXPECT_TRUE(Contains(result.stderr_data, mention))
            << "should name " << mention << ": " << result.stderr_data;
      }
    }
    ExpectDumpUnchanged(Plain(key_), before, "a refused sealed root key");
    // status still answers, and calls the key unusable.
    ProcessResult status = server.Run({"status", "--json"});
    ASSERT_TRUE(status.Exited(kExitOk)) << status.Describe();
    ExpectNoSecretIn(status);
    EXPECT_EQ(nlohmann::json::parse(status.stdout_data)["this_node"]["root_key"], "unusable");
  }

  // The sealed file with `from` replaced by `to` (a label, the version), mode 0600.
  fs::path EditedSealedFile(const std::string& from, const std::string& to) {
    std::string text = ReadFile(sealed_file_);
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << text;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const fs::path edited = dir_.path() / ("edited-" + std::to_string(++edits_) + ".k0");
    EXPECT_TRUE(WriteFile(edited, text));
    return edited;
  }

  TempDir dir_;
  UdmgServer base_{dir_.path()};
  SoftHsm hsm_{dir_.path() / "softhsm"};
  fs::path pin_file_ = dir_.path() / "pin";
  fs::path plain_file_ = dir_.path() / "k0.hex";
  fs::path sealed_file_ = dir_.path() / "k0.sealed";
  std::string key_;
  std::vector<std::string> keys_;  // every other root key of the test
  int edits_ = 0;
};

TEST_P(SealedRootKeyTest, SealK0WritesOneLineOwnerOnly) {
  const std::string text = ReadFile(sealed_file_);
  EXPECT_TRUE(text.starts_with(std::string("udmg-sealed-k0:v1:aes-key-wrap:") + kToken + ":" +
                               kWrapKey + ":"))
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_FALSE(Contains(text, key_));
  EXPECT_EQ(fs::status(sealed_file_).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // An existing output is kept unless --force; with it, a new sealing replaces it.
  ProcessResult again = Seal(plain_file_, sealed_file_);
  ExpectOneErrorLine(again, kExitBadInput);
  EXPECT_EQ(ReadFile(sealed_file_), text);
  ProcessResult forced = Seal(plain_file_, sealed_file_, kWrapKey, {"--force"});
  EXPECT_TRUE(forced.Exited(kExitOk)) << forced.Describe();
  EXPECT_TRUE(Contains(forced.stdout_data, FingerprintOf(key_))) << forced.stdout_data;
}

// The runbook on a sealed node: init, a plain node beside it, rotate-k0 to a sealed new key,
// rotate-master-key --reencrypt, passphrase-backup and -restore, unseal-k0.
TEST_P(SealedRootKeyTest, SealedNodeRunsTheRunbookBesideAPlainNode) {
  InitSealed();
  UdmgServer sealed = Sealed(sealed_file_);
  UdmgServer plain = Plain(key_);
  ExpectNoKeyInEnvironment(sealed);

  // One database, one fingerprint: each reads what the other wrote.
  EXPECT_EQ(Ok(plain, {"secret", "get", "credentials.secret", "1"}).stdout_data, "demo-secret-1");
  Ok(plain, {"secret", "put", "credentials.secret", "2"}, "written-by-plain");
  EXPECT_EQ(Ok(sealed, {"secret", "get", "credentials.secret", "2"}).stdout_data,
            "written-by-plain");
  Ok(sealed, {"secret", "put", "credentials.secret", "3"}, "written-by-sealed");
  EXPECT_EQ(Ok(plain, {"secret", "get", "credentials.secret", "3"}).stdout_data,
            "written-by-sealed");
  auto status = StatusJson(sealed);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["this_node"]["root_key"], "current") << *status;
  EXPECT_EQ((*status)["this_node"]["fingerprint"], FingerprintOf(key_)) << *status;

  // rotate-k0 to a new key given sealed.
  const std::string new_key = RandomKeyHex();
  keys_.push_back(new_key);
  const fs::path new_plain = dir_.path() / "k0-new.hex";
  const fs::path new_sealed = dir_.path() / "k0-new.sealed";
  ASSERT_TRUE(WriteFile(new_plain, new_key + "\n"));
  ASSERT_TRUE(Seal(new_plain, new_sealed).Exited(kExitOk));
  fs::remove(new_plain);
  Ok(sealed, {"rotate-k0", "--new-key-file", new_sealed.string()});
  ProcessResult old_node = sealed.Run({"secret", "get", "credentials.secret", "1"});
  ExpectOneErrorLine(old_node, kExitWrongKey);
  sealed = Sealed(new_sealed);
  plain = Plain(new_key);
  status = StatusJson(sealed);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["this_node"]["fingerprint"], FingerprintOf(new_key)) << *status;
  EXPECT_EQ(Ok(sealed, {"secret", "get", "credentials.secret", "1"}).stdout_data,
            "demo-secret-1");

  Ok(sealed, {"rotate-master-key", "--reencrypt"});
  auto after = StatusJson(plain);
  ASSERT_TRUE(after);
  EXPECT_EQ(ValuesByVersion(*after, "credentials", "secret"), (std::map<int, int>{{2, kRows}}));
  EXPECT_EQ(Ok(plain, {"secret", "get", "credentials.secret", "3"}).stdout_data,
            "written-by-sealed");

  const fs::path passphrase = dir_.path() / "passphrase";
  const fs::path backup = dir_.path() / "backup.udmg";
  ASSERT_TRUE(WriteFile(passphrase, "a long recovery passphrase\n"));
  Ok(sealed, {"passphrase-backup", "--output", backup.string(), "--passphrase-file",
              passphrase.string()});
  Ok(sealed, {"passphrase-restore", "--input", backup.string(), "--passphrase-file",
              passphrase.string(), "--verify-only"});

  // Break-glass export: the plain key, 0600, and only when asked for a file.
  const fs::path exported = dir_.path() / "exported.hex";
  Ok(sealed, {"unseal-k0", "--output", exported.string()});
  EXPECT_EQ(ReadFile(exported), new_key + "\n");
  EXPECT_EQ(fs::status(exported).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  ProcessResult again = sealed.Run({"unseal-k0", "--output", exported.string()});
  ExpectOneErrorLine(again, kExitBadInput);
}

TEST_P(SealedRootKeyTest, DoctorShowsTheTokenAndWarnsOfAnExtractableKey) {
  InitSealed();
  RecordBackupRow(Plain(key_));
  ExpectDoctorFinding(Sealed(sealed_file_), kExitOk, "root_key_seal",
                      {.status = "ok", .in_message = {"sealed", kSoftHsmModule, kToken, kWrapKey}});

  // A wrapping key that may leave the token: the seal is only as good as that key.
  const fs::path weak_sealed = dir_.path() / "k0-weak.sealed";
  hsm_.GenerateKey("weak-wrap", "AES:32", {"--extractable", "--usage-wrap"});
  ASSERT_TRUE(Seal(plain_file_, weak_sealed, "weak-wrap").Exited(kExitOk));
  ExpectDoctorFinding(Sealed(weak_sealed), kExitOk, "root_key_seal",
                      {.status = "warning", .in_message = {"CKA_EXTRACTABLE"}});

  // A plain node: the check says the key is not sealed, without a warning.
  ExpectDoctorFinding(Plain(key_), kExitOk, "root_key_seal",
                      {.status = "ok", .in_message = {"plain"}});
}

TEST_P(SealedRootKeyTest, ModuleMissingOrNotPkcs11IsRefused) {
  InitSealed();
  UdmgServer missing = Sealed(sealed_file_);
  missing.set_env("UDMG_PKCS11_MODULE", (dir_.path() / "no-such-module.so").string());
  ExpectRefused(missing, {"UDMG_PKCS11_MODULE", "cannot be loaded"});

  // A shared library that is not a PKCS#11 module: the libcrypto this test has loaded.
  const std::string maps = ReadFile("/proc/self/maps");
  const size_t at = maps.find("/libcrypto.so");
  ASSERT_NE(at, std::string::npos) << maps;
  const size_t start = maps.rfind(' ', at) + 1;
  const std::string libcrypto = maps.substr(start, maps.find('\n', at) - start);
  UdmgServer not_module = Sealed(sealed_file_);
  not_module.set_env("UDMG_PKCS11_MODULE", libcrypto);
  ExpectRefused(not_module, {"is not a PKCS#11 module"});

  UdmgServer unset = base_;  // no module, no PIN file
  unset.set_env(kKeyFileEnv, sealed_file_.string());
  ExpectRefused(unset, {"UDMG_PKCS11_MODULE", "is not set"});
}

TEST_P(SealedRootKeyTest, TokenAbsentIsRefused) {
  InitSealed();
  SoftHsm empty(dir_.path() / "empty-softhsm");  // as if the token were unplugged
  UdmgServer server = Sealed(sealed_file_);
  server.set_env("SOFTHSM2_CONF", empty.config());
  ExpectRefused(server, {"no token labelled 'udmg-test'"});
}

TEST_P(SealedRootKeyTest, WrongPinIsRefused) {
  InitSealed();
  const fs::path wrong = dir_.path() / "wrong-pin";
  ASSERT_TRUE(WriteFile(wrong, "pin-0000000000\n"));
  UdmgServer server = Sealed(sealed_file_);
  server.set_env("UDMG_PKCS11_PIN_FILE", wrong.string());
  ExpectRefused(server, {"CKR_PIN_INCORRECT", wrong.string()});
}

TEST_P(SealedRootKeyTest, PinFileReadableByOthersIsRefused) {
  InitSealed();
  fs::permissions(pin_file_, fs::perms::others_read, fs::perm_options::add);
  ExpectRefused(Sealed(sealed_file_), {"UDMG_PKCS11_PIN_FILE", "chmod 600"});
}

TEST_P(SealedRootKeyTest, LockedPinIsRefused) {
  InitSealed();
  ExpectRefused(SealedWithFault("pin-locked"), {"CKR_PIN_LOCKED", "security officer"});
}

TEST_P(SealedRootKeyTest, MechanismUnsupportedIsRefused) {
  InitSealed();
  ExpectRefused(SealedWithFault("no-key-wrap"), {"does not offer CKM_AES_KEY_WRAP"});
  // A sealed key of a mechanism this version does not know is refused before any token.
  ExpectRefused(Sealed(EditedSealedFile(":aes-key-wrap:", ":aes-gcm:")),
                {"unknown wrapping mechanism"});
}

TEST_P(SealedRootKeyTest, KeyNotFoundIsRefused) {
  InitSealed();
  hsm_.DeleteKey(kWrapKey);
  ExpectRefused(Sealed(sealed_file_), {"no key 'k0-wrap' on token 'udmg-test'"});
}

TEST_P(SealedRootKeyTest, KeyOfWrongTypeIsRefused) {
  InitSealed();
  hsm_.GenerateKey("generic", "GENERIC:32");
  ExpectRefused(Sealed(EditedSealedFile(std::string(":") + kWrapKey + ":", ":generic:")),
                {"not an AES secret key"});
}

TEST_P(SealedRootKeyTest, SealedByAnotherKeyOrAlteredIsRefused) {
  InitSealed();
  // Sealed by another AES key of the same token, the label then pointed at the first one.
  hsm_.GenerateKey("other-wrap", "AES:32");
  const fs::path other = dir_.path() / "k0-other.sealed";
  ASSERT_TRUE(Seal(plain_file_, other, "other-wrap").Exited(kExitOk));
  std::string text = ReadFile(other);
  text.replace(text.find(":other-wrap:"), 12, std::string(":") + kWrapKey + ":");
  const fs::path relabelled = dir_.path() / "k0-relabelled.sealed";
  ASSERT_TRUE(WriteFile(relabelled, text));
  ExpectRefused(Sealed(relabelled), {"does not unwrap", "seal-k0"});

  // One character of the wrapped key changed (still 40 bytes of base64).
  std::string altered = ReadFile(sealed_file_);
  const size_t last_colon = altered.rfind(':');
  altered[last_colon + 3] = altered[last_colon + 3] == 'A' ? 'B' : 'A';
  const fs::path altered_file = dir_.path() / "k0-altered.sealed";
  ASSERT_TRUE(WriteFile(altered_file, altered));
  ExpectRefused(Sealed(altered_file), {"does not unwrap"});

  ExpectRefused(Sealed(EditedSealedFile(":v1:", ":v9:")), {"unknown version"});
}

TEST_P(SealedRootKeyTest, SealK0RefusesATokenProblemAndWritesNothing) {
  const fs::path output = dir_.path() / "never.sealed";
  const fs::path wrong = dir_.path() / "wrong-pin";
  ASSERT_TRUE(WriteFile(wrong, "pin-0000000000\n"));
  UdmgServer server = WithToken();
  server.set_env(kKeyFileEnv, plain_file_.string());
  server.set_env("UDMG_PKCS11_PIN_FILE", wrong.string());
  ProcessResult result = server.Run({"seal-k0", "--output", output.string(), "--token-label",
                                     kToken, "--key-label", kWrapKey});
  ExpectOneErrorLine(result, kExitBadKey);
  ExpectNoSecretIn(result);
  EXPECT_FALSE(fs::exists(output));

  hsm_.GenerateKey("generic", "GENERIC:32");
  result = Seal(plain_file_, output, "generic");
  ExpectOneErrorLine(result, kExitBadKey);
  EXPECT_TRUE(Contains(result.stderr_data, "not an AES secret key")) << result.stderr_data;
  EXPECT_FALSE(fs::exists(output));

  ProcessResult usage = WithToken().Run({"seal-k0", "--output", output.string()});
  ExpectOneErrorLine(usage, kExitUsage);
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(SealedRootKeyTest);

}  // namespace
}  // namespace udmg::testing
