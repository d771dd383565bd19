// Steps shared by the doctor and node-registry end-to-end tests: run `doctor --json`,
// pick findings out of it, record a keyring backup row as `passphrase-backup` would, and read one
// sample of `udmg-server metrics`.
//
// Thread-safety: as cli_runner.h; each function is called from the test's thread.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"

namespace udmg::testing {

inline constexpr int kExitUnhealthy = 13;  // docs/exit-codes.md

// `doctor --json`: expects exit `expected_exit` and a document {"healthy":bool,"findings":[...]}
// whose "healthy" agrees with the exit code; nullopt (with a failure recorded) otherwise.
std::optional<nlohmann::json> DoctorJson(const UdmgServer& server, int expected_exit);

// The findings of `check` in a doctor document.
std::vector<nlohmann::json> FindingsOf(const nlohmann::json& doctor, const std::string& check);
// The statuses of `check`'s findings, e.g. {"ok"} or {"problem", "problem"}.
std::vector<std::string> StatusesOf(const nlohmann::json& doctor, const std::string& check);

// What a test expects of the one finding of a check: its status, and texts that its message and
// its fix each contain.
struct ExpectedFinding {
  std::string status;
  std::vector<std::string> in_message = {};
  std::vector<std::string> in_fix = {};
};

// Expects exactly one finding of `check` in `doctor`, as `expected` says.
void ExpectOneFinding(const nlohmann::json& doctor, const std::string& check,
                      const ExpectedFinding& expected);

// DoctorJson, then ExpectOneFinding: returns the document for further checks (nullopt, with a
// failure recorded, when there is none).
std::optional<nlohmann::json> ExpectDoctorFinding(const UdmgServer& server, int expected_exit,
                                                  const std::string& check,
                                                  const ExpectedFinding& expected);

// Inserts a udmg_backups row for the current root key, taken now: the record a
// `passphrase-backup` leaves (the file itself is not needed by doctor).
void RecordBackupRow(const UdmgServer& server);

// The value of the series of `udmg-server metrics` named `family` whose labels include
// node="<node>"; nullopt when there is none.
std::optional<double> NodeSample(const std::string& exposition, const std::string& family,
                                 const std::string& node);

}  // namespace udmg::testing
