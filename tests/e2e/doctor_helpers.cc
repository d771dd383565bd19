#include "tests/e2e/doctor_helpers.h"

#include <gtest/gtest.h>

#include <ctime>
#include <regex>
#include <sstream>

#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {

using nlohmann::json;

std::optional<json> DoctorJson(const UdmgServer& server, int expected_exit) {
  ProcessResult result = server.Run({"doctor", "--json"});
  EXPECT_EQ(result.exit_code, expected_exit) << result.Describe();
  json doctor = json::parse(result.stdout_data, nullptr, /*allow_exceptions=*/false);
  if (!doctor.is_object() || !doctor["healthy"].is_boolean() || !doctor["findings"].is_array()) {
    ADD_FAILURE() << "doctor --json did not print {healthy, findings}: " << result.Describe();
    return std::nullopt;
  }
  EXPECT_EQ(doctor["healthy"].get<bool>(), result.exit_code == 0) << result.Describe();
  for (const json& finding : doctor["findings"]) {
    EXPECT_TRUE(finding["check"].is_string() && finding["status"].is_string() &&
                finding["message"].is_string() &&
                (finding["fix"].is_string() || finding["fix"].is_null()))
        << finding.dump();
    // Whatever is not ok says how to fix it.
    if (finding["status"] != "ok") {
      EXPECT_TRUE(finding["fix"].is_string()) << finding.dump();
    }
  }
  return doctor;
}

std::vector<json> FindingsOf(const json& doctor, const std::string& check) {
  std::vector<json> found;
  for (const json& finding : doctor["findings"]) {
    if (finding["check"] == check) found.push_back(finding);
  }
  return found;
}

std::vector<std::string> StatusesOf(const json& doctor, const std::string& check) {
  std::vector<std::string> statuses;
  for (const json& finding : FindingsOf(doctor, check)) statuses.push_back(finding["status"]);
  return statuses;
}

void ExpectOneFinding(const json& doctor, const std::string& check,
                      const ExpectedFinding& expected) {
  const std::vector<json> found = FindingsOf(doctor, check);
  if (found.size() != 1) {
    ADD_FAILURE() << found.size() << " findings of " << check << ", expected one: " << doctor;
    return;
  }
  json finding = found[0];  // non-const: [] on an absent field gives null
  EXPECT_EQ(finding["status"], expected.status) << finding;
  const auto expect_in = [&](const char* field, const std::vector<std::string>& parts) {
    const std::string text = finding[field].is_string() ? finding[field].get<std::string>() : "";
    for (const std::string& part : parts) {
      EXPECT_TRUE(Contains(text, part)) << field << " lacks \"" << part << "\": " << finding;
    }
  };
  expect_in("message", expected.in_message);
  expect_in("fix", expected.in_fix);
}

std::optional<json> ExpectDoctorFinding(const UdmgServer& server, int expected_exit,
                                        const std::string& check, const ExpectedFinding& expected) {
  std::optional<json> doctor = DoctorJson(server, expected_exit);
  if (doctor) ExpectOneFinding(*doctor, check, expected);
  return doctor;
}

void RecordBackupRow(const UdmgServer& server) {
  std::string version = server.Exec("SELECT max(version) FROM udmg_root_keys;");
  if (!version.empty() && version.back() == '\n') version.pop_back();
  std::string revision = server.Exec("SELECT max(keyring_revision) FROM udmg_meta;");
  if (!revision.empty() && revision.back() == '\n') revision.pop_back();
  server.Exec("INSERT INTO udmg_backups (taken_at, root_version, root_fingerprint, "
              "keyring_revision) VALUES (" +
              std::to_string(std::time(nullptr)) + ", " + version + ", '" +
              FingerprintOf(server.root_key()) + "', " + (revision.empty() ? "0" : revision) +
              ");");
}

std::optional<double> NodeSample(const std::string& exposition, const std::string& family,
                                 const std::string& node) {
  const std::regex series("^" + family + R"(\{([^}]*)\} (\S+)$)");
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (!std::regex_match(line, match, series)) continue;
    if (match[1].str().find("node=\"" + node + "\"") == std::string::npos) continue;
    return std::stod(match[2].str());
  }
  return std::nullopt;
}

}  // namespace udmg::testing
