// The command groups of udmg-server. Each Add...Commands registers its subcommands on `app`;
// parsing a selected subcommand stores the work to do in `action`, which app.cc runs after
// parsing, outside CLI11 (CLI11's exceptions stay in app.cc). An action prints its result on
// stdout and returns the error for app.cc to print and turn into the exit code.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "cli/context.h"

namespace udmg::cli {

using Action = std::function<Status()>;

// Registers subcommand `name` of `parent` with its arguments: an Args that CLI11 fills in and the
// subcommand's callback shares. Once the subcommand is selected, `action` is `run(args)`.
template <typename Args>
std::pair<CLI::App*, std::shared_ptr<Args>> AddCommand(CLI::App& parent, Action& action,
                                                       const std::string& name,
                                                       const std::string& description,
                                                       std::function<Status(const Args&)> run) {
  auto args = std::make_shared<Args>();
  CLI::App* command = parent.add_subcommand(name, description);
  command->callback([&action, args, run = std::move(run)] {
    action = [args, run] { return run(*args); };
  });
  return {command, args};
}

// A file of key material a command creates (cli/secure_file.h): `--output PATH`, required, and
// `--force` to replace an existing one.
struct OutputFile {
  std::string path;
  bool force = false;
};
inline void AddOutputFileOptions(CLI::App* command, OutputFile& file,
                                 const std::string& description) {
  command->add_option("--output", file.path, description)->required();
  command->add_flag("--force", file.force, "replace the output file if it exists");
}

// init, rotate-k0, rotate-master-key
void AddKeyringCommands(CLI::App& app, const GlobalOptions& global, Action& action);
void AddStatusCommand(CLI::App& app, const GlobalOptions& global, Action& action);
void AddColumnCommands(CLI::App& app, const GlobalOptions& global, Action& action);
void AddSecretCommands(CLI::App& app, const GlobalOptions& global, Action& action);
// sweep, verify
void AddMaintenanceCommands(CLI::App& app, const GlobalOptions& global, Action& action);
void AddDemoCommand(CLI::App& app, const GlobalOptions& global, Action& action);
// passphrase-backup, passphrase-restore (docs/disaster-recovery.md)
void AddRecoveryCommands(CLI::App& app, const GlobalOptions& global, Action& action);
// prune-keys: retire the master versions no stored value uses
void AddPruneCommand(CLI::App& app, const GlobalOptions& global, Action& action);
// retire-key: retire one master version, its values moved first (or at once with --now)
void AddRetireCommand(CLI::App& app, const GlobalOptions& global, Action& action);
// seal-k0, unseal-k0: this node's root key sealed by a PKCS#11 token and back (docs/hsm.md)
void AddSealingCommands(CLI::App& app, const GlobalOptions& global, Action& action);
// audit list, audit verify: the audit trail of every keyring change (docs/security.md)
void AddAuditCommands(CLI::App& app, const GlobalOptions& global, Action& action);
// policy show, policy set: the cryptoperiod policy (docs/security.md)
void AddPolicyCommands(CLI::App& app, const GlobalOptions& global, Action& action);
// report: the evidence report (docs/compliance.md)
void AddReportCommand(CLI::App& app, const GlobalOptions& global, Action& action);
// doctor: every health check with its fix (exit 13 when any is a problem)
void AddDoctorCommand(CLI::App& app, const GlobalOptions& global, Action& action);

}  // namespace udmg::cli
