// The checks of `udmg-server doctor`: each one a finding with its status and, when
// something is wrong, the command or step that fixes it. Decisions: docs/doctor.md.
//
// Doctor writes nothing to the database except this node's own udmg_nodes row (as every process
// that opens the keyring does) and the schema migrations every command runs.
//
// Thread-safety: one RunDoctorChecks call per thread (it opens its own database connection).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/context.h"

namespace udmg::cli {

enum class FindingStatus { kOk, kWarning, kProblem };
std::string_view FindingStatusName(FindingStatus status);  // "ok", "warning", "problem"

struct Finding {
  std::string check;  // "database", "keyring", "root_key_env", "root_key_version", "master_keys",
                      // "columns", "backup", "nodes", "stale_values", "values", "jobs",
                      // "cryptoperiods"
  FindingStatus status = FindingStatus::kOk;
  std::string message;  // one line; names versions, fingerprints, nodes; never key bytes
  std::string fix;      // one line; empty when there is nothing to do
};

// Every check, in the order above. A check that cannot run because an earlier one failed (no
// database, no keyring, no usable K0) is left out: the earlier finding says what to fix first.
// An unreachable database is a finding too, not an error.
std::vector<Finding> RunDoctorChecks(const GlobalOptions& global);

}  // namespace udmg::cli
