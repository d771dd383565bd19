#include "tests/e2e/e2e_helpers.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <sstream>

namespace udmg::testing {
namespace {

constexpr char kErrorPrefix[] = "udmg-server: error: ";

std::string Lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::multiset<std::string> Lines(const std::string& text) {
  std::multiset<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.insert(line);
  return lines;
}

}  // namespace

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string DumpDifference(const std::string& before, const std::string& after) {
  if (before == after) return {};
  const std::multiset<std::string> old_lines = Lines(before);
  const std::multiset<std::string> new_lines = Lines(after);
  std::vector<std::string> removed;
  std::vector<std::string> added;
  std::set_difference(old_lines.begin(), old_lines.end(), new_lines.begin(), new_lines.end(),
                      std::back_inserter(removed));
  std::set_difference(new_lines.begin(), new_lines.end(), old_lines.begin(), old_lines.end(),
                      std::back_inserter(added));
  std::string difference;
  for (const std::string& line : removed) difference += "- " + line + "\n";
  for (const std::string& line : added) difference += "+ " + line + "\n";
  return difference.empty() ? "(same lines, different order)\n" : difference;
}

void ExpectDumpUnchanged(const UdmgServer& server, const std::string& before,
                         const std::string& what) {
  const std::string difference = DumpDifference(before, server.Dump());
  EXPECT_TRUE(difference.empty()) << what << " changed the database:\n" << difference;
}

ProcessResult RunOk(const UdmgServer& server, std::vector<std::string> args,
                    std::string stdin_data) {
  std::string shown;
  for (const std::string& arg : args) shown += " " + arg;
  ProcessResult result = server.Run(std::move(args), std::move(stdin_data));
  EXPECT_EQ(result.exit_code, kExitOk) << "udmg-server" << shown << ": " << result.Describe();
  return result;
}

bool InitDemo(UdmgServer& server, int rows) {
  server.set_root_key(RandomKeyHex());
  if (!RunOk(server, {"init"}).Exited(kExitOk)) return false;
  if (rows > 0 && !RunOk(server, {"demo", "--rows", std::to_string(rows)}).Exited(kExitOk)) {
    return false;
  }
  return true;
}

bool InitDemoAndRotate(UdmgServer& server, int rows) {
  return InitDemo(server, rows) && RunOk(server, {"rotate-master-key"}).Exited(kExitOk);
}

std::optional<nlohmann::json> StatusJson(const UdmgServer& server) {
  ProcessResult result = RunOk(server, {"status", "--json"});
  if (!result.Exited(kExitOk)) return std::nullopt;
  nlohmann::json status = nlohmann::json::parse(result.stdout_data, nullptr,
                                                /*allow_exceptions=*/false);
  if (status.is_discarded()) {
    ADD_FAILURE() << "status --json printed something that is not JSON: " << result.Describe();
    return std::nullopt;
  }
  return status;
}

int DemoValuesOnVersion(const UdmgServer& server, int version) {
  std::optional<nlohmann::json> status = StatusJson(server);
  if (!status) return -1;
  std::map<int, int> versions = ValuesByVersion(*status, "credentials", "secret");
  return versions.count(version) ? versions[version] : 0;
}

std::string UrlWithUser(const std::string& url, const std::string& user) {
  size_t scheme_end = url.find("://") + 3;
  size_t at = url.find('@', scheme_end);
  return url.substr(0, scheme_end) + user + url.substr(at);
}

std::optional<nlohmann::json> JobControlStatus(const UdmgServer& server) {
  ProcessResult result = server.Run({"reencrypt", "--control", "status"});
  if (!result.Exited(kExitOk)) return std::nullopt;
  nlohmann::json status = nlohmann::json::parse(result.stdout_data, nullptr,
                                                /*allow_exceptions=*/false);
  if (status.is_discarded()) return std::nullopt;
  return status;
}

double ThrottledSecondsIn(const std::string& textfile_contents, const std::string& reason) {
  std::istringstream lines(textfile_contents);
  const std::string series = "udmg_reencrypt_throttled_seconds_total{";
  const std::string label = "reason=\"" + reason + "\"";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series, 0) != 0 || line.find(label) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

std::map<int, int> ValuesByVersion(const nlohmann::json& status, const std::string& table,
                                   const std::string& column) {
  std::map<int, int> counts;
  for (const nlohmann::json& entry : status.value("columns", nlohmann::json::array())) {
    if (entry.value("table", "") != table || entry.value("column", "") != column) continue;
    const nlohmann::json versions = entry.value("versions", nlohmann::json::object());
    for (const auto& [version, count] : versions.items()) {
      if (count.get<int>() != 0) counts[std::stoi(version)] = count.get<int>();
    }
    return counts;
  }
  ADD_FAILURE() << "status has no column " << table << "." << column << ": " << status.dump();
  return counts;
}

void ExpectOneErrorLine(const ProcessResult& result, int code) {
  EXPECT_EQ(result.exit_code, code) << result.Describe();
  std::vector<std::string> lines = result.StderrLines();
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one line on stderr: " << result.Describe();
  EXPECT_EQ(lines[0].rfind(kErrorPrefix, 0), 0u)
      << "stderr line does not start with '" << kErrorPrefix << "': " << lines[0];
  EXPECT_GT(lines[0].size(), sizeof(kErrorPrefix) + 10) << "message too short: " << lines[0];
  EXPECT_TRUE(result.stderr_data.ends_with('\n')) << "the error line must end with a newline";
}

void ExpectOneErrorLine(const ProcessResult& result, int code,
                        const std::vector<std::string>& parts) {
  ExpectOneErrorLine(result, code);
  for (const std::string& part : parts) {
    EXPECT_TRUE(Contains(result.stderr_data, part))
        << "should say " << part << ": " << result.Describe();
  }
}

void ExpectNoKeyIn(const ProcessResult& result, const std::vector<std::string>& keys_hex) {
  const std::string out = Lowercase(result.stdout_data);
  const std::string err = Lowercase(result.stderr_data);
  for (const std::string& key : keys_hex) {
    if (key.empty()) continue;
    const std::string needle = Lowercase(key);
    EXPECT_EQ(out.find(needle), std::string::npos) << "a key appears on stdout";
    EXPECT_EQ(err.find(needle), std::string::npos) << "a key appears on stderr";
  }
}

std::string FingerprintOf(const std::string& key_hex) {
  std::vector<unsigned char> key;
  for (size_t i = 0; i + 1 < key_hex.size(); i += 2) {
    key.push_back(static_cast<unsigned char>(std::stoi(key_hex.substr(i, 2), nullptr, 16)));
  }
  static constexpr char kMessage[] = "udmg-k0-fingerprint";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(kMessage), sizeof(kMessage) - 1, mac, &mac_size);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < 16; ++i) {
    hex.push_back(kDigits[mac[i] >> 4]);
    hex.push_back(kDigits[mac[i] & 0xf]);
  }
  return hex;
}

ProcessResult RunInterop(std::vector<std::string> args) {
  args.insert(args.begin(), std::string(UDMG_SOURCE_DIR) + "/tests/e2e/udmg_interop.py");
  return RunTool({.program = "python3", .args = std::move(args)});
}

std::optional<nlohmann::json> InspectWithPython(const UdmgServer& server,
                                                const std::vector<std::string>& old_keys) {
  std::vector<std::string> args = {"inspect", "--db", server.database().string(), "--k0",
                                   server.root_key()};
  for (const std::string& old_key : old_keys) {
    args.push_back("--old-k0");
    args.push_back(old_key);
  }
  ProcessResult result = RunInterop(std::move(args));
  if (!result.Exited(0)) {
    ADD_FAILURE() << "udmg_interop.py inspect failed: " << result.Describe();
    return std::nullopt;
  }
  nlohmann::json inspected = nlohmann::json::parse(result.stdout_data, nullptr, false);
  if (inspected.is_discarded()) {
    ADD_FAILURE() << "udmg_interop.py printed something that is not JSON: " << result.Describe();
    return std::nullopt;
  }
  return inspected;
}

std::map<int, int> ExpectDemoPlaintexts(const nlohmann::json& inspected, int rows) {
  std::map<int, int> by_version;
  const nlohmann::json& values = inspected["columns"]["credentials.secret"];
  EXPECT_EQ(values.size(), static_cast<size_t>(rows));
  for (int id = 1; id <= rows; ++id) {
    const std::string key = std::to_string(id);
    if (!values.contains(key)) {
      ADD_FAILURE() << "row " << id << " is missing";
      continue;
    }
    const nlohmann::json& value = values[key];
    EXPECT_EQ(value["plaintext"], "demo-secret-" + key) << "row " << id;
    EXPECT_FALSE(value["version"].is_null()) << "row " << id << " is not encrypted";
    if (value["version"].is_number()) ++by_version[value["version"].get<int>()];
  }
  return by_version;
}

void ExpectDemoValuesMigrated(const UdmgServer& server, int rows) {
  std::optional<nlohmann::json> inspected = InspectWithPython(server);
  ASSERT_TRUE(inspected.has_value());
  int active = (*inspected)["active_master_version"];
  const nlohmann::json& values = (*inspected)["columns"]["credentials.secret"];
  ASSERT_EQ(values.size(), static_cast<size_t>(rows));
  constexpr int kRowsShown = 5;  // a whole table of wrong rows would bury the cause
  int wrong = 0;
  for (const auto& [key, value] : values.items()) {
    bool ok = value["version"] == active && value["plaintext"] == "demo-secret-" + key;
    if (!ok && ++wrong <= kRowsShown) ADD_FAILURE() << "row " << key << ": " << value.dump();
  }
  EXPECT_EQ(wrong, 0);
}

SqliteWriteLock::SqliteWriteLock(const std::filesystem::path& database) {
  const std::filesystem::path held = dir_.path() / "held";
  EXPECT_TRUE(WriteFile(held, ""));
  holder_ = BackgroundProcess::Start(
      {.program = "/usr/bin/python3",
       .args = {"-c",
                "import os, sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('locked', file=sys.stderr, flush=True)\n"
                "while os.path.exists(sys.argv[2]): time.sleep(0.02)\n",
                database.string(), held.string()}});
  // Waits for the holder's "locked" line: an event, not a time.
  while (holder_->Running() &&
         ReadFile(holder_->stderr_path()).find("locked") == std::string::npos) {
  }
  if (!holder_->Running()) ADD_FAILURE() << "no lock taken: " << holder_->Wait().Describe();
}

SqliteWriteLock::~SqliteWriteLock() {
  std::error_code ignored;
  std::filesystem::remove(dir_.path() / "held", ignored);
  ProcessResult ended = holder_->Wait();
  EXPECT_TRUE(ended.Exited(0)) << ended.Describe();
}

Invocation AsUnprivilegedUser(Invocation invocation) {
  if (geteuid() != 0) return invocation;
  const passwd* user = getpwnam(kUnprivilegedTestUser);
  if (user == nullptr) {
    ADD_FAILURE() << "no user " << kUnprivilegedTestUser << ": run scripts/setup.sh";
    return invocation;
  }
  std::vector<std::string> args = {"--reuid", std::to_string(user->pw_uid), "--regid",
                                   std::to_string(user->pw_gid), "--clear-groups", "--",
                                   invocation.program.string()};
  args.insert(args.end(), invocation.args.begin(), invocation.args.end());
  invocation.program = "/usr/bin/setpriv";
  invocation.args = std::move(args);
  return invocation;
}

}  // namespace udmg::testing
