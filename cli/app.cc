#include "cli/app.h"

#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/metrics_outputs.h"
#include "cli/output.h"
#include "cli/reencrypt_command.h"
#include "engine/secret.h"

namespace udmg::cli {
namespace {

// A key given as `--new-key HEX` is in argv by the operator's choice; once parsed, its bytes are
// overwritten where the kernel shows them (/proc/PID/cmdline), as the parsed copy is all we keep.
void WipeKeyArguments(int argc, char** argv) {
  constexpr std::string_view kFlag = "--new-key";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == kFlag && i + 1 < argc && std::string_view(argv[i + 1]) != "-") {
      Wipe(argv[i + 1], std::strlen(argv[i + 1]));
    } else if (arg.starts_with(std::string(kFlag) + "=")) {
      Wipe(argv[i] + kFlag.size() + 1, arg.size() - kFlag.size() - 1);
    }
  }
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"udmg-server: keeps sensitive values encrypted at rest and rotates their keys",
               "udmg-server"};
  app.set_version_flag("--version", "udmg-server " UDMG_TOOL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --db is accepted after the subcommand too (inherited by subcommands)
  GlobalOptions global;
  app.add_option("--db", global.database_url,
                 "database URL: sqlite:PATH or postgresql://...; default $UDMG_DATABASE_URL, "
                 "else sqlite:udmg.db");

  Action action;
  AddKeyringCommands(app, global, action);
  AddStatusCommand(app, global, action);
  AddColumnCommands(app, global, action);
  AddSecretCommands(app, global, action);
  AddMaintenanceCommands(app, global, action);
  AddDemoCommand(app, global, action);
  AddReencryptCommand(app, global, action);
  AddMetricsCommand(app, global, action);
  AddRecoveryCommands(app, global, action);
  AddPruneCommand(app, global, action);
  AddDoctorCommand(app, global, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);  // help on stdout, exit 0
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);  // on stdout, exit 0
  } catch (const CLI::ParseError& error) {
    return PrintError(Error{ErrorCode::kUsage,
                            std::string(error.what()) + " (see `udmg-server --help`)"});
  }
  WipeKeyArguments(argc, argv);
  if (!action) {
    return PrintError(Error{ErrorCode::kUsage, "no command given (see `udmg-server --help`)"});
  }
  // "udmg-server columns add": how this process is named in udmg_nodes.
  for (const CLI::App* command = &app; !command->get_subcommands().empty();) {
    command = command->get_subcommands().front();
    global.program += " " + command->get_name();
  }
  Status status = action();
  std::cout.flush();
  if (!status.ok()) return PrintError(status.error());
  return 0;
}

}  // namespace udmg::cli
