#include "cli/app.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <string_view>

#include "base/quoted_input.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/metrics_outputs.h"
#include "cli/output.h"
#include "cli/reencrypt_command.h"
#include "engine/secret.h"
#include "pipeline/library_versions.h"

namespace udmg::cli {
namespace {

constexpr std::string_view kNotShown = "[argument not shown: it may be key material]";

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

// Command names, which CLI11's messages may quote and which are never secret.
void CollectCommandNames(const CLI::App& app, std::set<std::string>& names) {
  for (const CLI::App* command : app.get_subcommands({})) {
    names.insert(command->get_name());
    CollectCommandNames(*command, names);
  }
}

// CLI11 quotes the arguments it could not place or convert; one of them may be a key or a
// passphrase typed in the wrong place (`rotate-master-key <HEX>`). Every argument long enough to
// be one (the shortest passphrase is 12 characters) that is not an option or a command name is
// cut out of the message.
std::string WithoutSecretArguments(std::string message, const CLI::App& app, int argc,
                                   char** argv) {
  constexpr size_t kShortestSecret = 12;
  std::set<std::string> commands;
  CollectCommandNames(app, commands);
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("-")) {
      const size_t equals = arg.find('=');
      if (equals == std::string_view::npos) continue;
      arg.remove_prefix(equals + 1);  // --new-key=HEX: the value
    }
    if (arg.size() < kShortestSecret || commands.contains(std::string(arg))) continue;
    for (size_t at = message.find(arg); at != std::string::npos;
         at = message.find(arg, at + kNotShown.size())) {
      message.replace(at, arg.size(), kNotShown);
    }
  }
  return message;
}

// `--version`: this build and the libraries it runs on, one per line.
std::string VersionText() {
  std::string text = "udmg-server " UDMG_TOOL_VERSION "\ncommit " UDMG_GIT_COMMIT;
  for (const auto& [library, version] : pipeline::LibraryVersions()) {
    text += "\n" + library + " " + version;
  }
  return text;
}

// The first argument that names a command: not an option and not the value of --db (the only
// global option that takes one). Empty when there is none.
std::string_view CommandArgument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--db" || arg == "--log-format") {  // the global options that take a value
      ++i;
    } else if (!arg.starts_with("-")) {
      return arg;
    }
  }
  return {};
}

// CLI11 says "A subcommand is required" when the first word is no command: say which word.
std::string UsageMessage(const CLI::ParseError& error, const CLI::App& app, int argc,
                         char** argv) {
  std::set<std::string> commands;
  for (const CLI::App* command : app.get_subcommands({})) commands.insert(command->get_name());
  const std::string_view command = CommandArgument(argc, argv);
  std::string message = error.what();
  if (!command.empty() && !commands.contains(std::string(command))) {
    message = "unknown command " + QuotedInput(command);
  }
  return WithoutSecretArguments(message, app, argc, argv) + " (see `udmg-server --help`)";
}

// A result that never reached stdout (a full disk, a closed file) must not look like success.
Status FlushStdout() {
  std::cout.flush();
  const bool failed = std::cout.fail() || std::fflush(stdout) != 0 || std::ferror(stdout) != 0;
  if (!failed) return Status::Ok();
  const int error = errno;
  return Status(kOutputLost,
                std::string("the output could not be written to stdout (") +
                    (error != 0 ? std::strerror(error) : "write error") +
                    "): the command ran but its result was lost; check where stdout goes "
                    "(disk space, a closed file) before running it again");
}

// --log-format read before parsing, so that a usage error is already a JSON line.
std::string PreScannedLogFormat(int argc, char** argv) {
  std::string format = "text";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--log-format" && i + 1 < argc) format = argv[i + 1];
    if (arg.starts_with("--log-format=")) format = arg.substr(std::string_view("--log-format=").size());
  }
  if (format == "json") SetLogFormat(LogFormat::kJson);
  return format;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"udmg-server: keeps sensitive values encrypted at rest and rotates their keys",
               "udmg-server"};
  app.set_version_flag("--version", VersionText);
  app.require_subcommand(1);
  app.fallthrough();  // --db is accepted after the subcommand too (inherited by subcommands)
  GlobalOptions global;
  app.add_option("--db", global.database_url,
                 "database URL: sqlite:PATH or postgresql://...; default $UDMG_DATABASE_URL, "
                 "else sqlite:udmg.db");

  std::string log_format = PreScannedLogFormat(argc, argv);
  app.add_option("--log-format", log_format,
                 "stderr lines as text (default) or as one JSON object per line (docs/json.md)")
      ->check(CLI::IsMember({"text", "json"}));

  Action action;
  // In the order --help lists them.
  for (const auto add_commands :
       {AddKeyringCommands, AddStatusCommand, AddColumnCommands, AddSecretCommands,
        AddMaintenanceCommands, AddDemoCommand, AddReencryptCommand, AddMetricsCommand,
        AddRecoveryCommands, AddPruneCommand, AddRetireCommand, AddSealingCommands,
        AddAuditCommands, AddPolicyCommands, AddReportCommand, AddDoctorCommand}) {
    add_commands(app, global, action);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);  // help on stdout, exit 0
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);  // on stdout, exit 0
  } catch (const CLI::ParseError& error) {
    return PrintError(Error{ErrorCode::kUsage, UsageMessage(error, app, argc, argv)});
  }
  WipeKeyArguments(argc, argv);
  if (log_format == "json") SetLogFormat(LogFormat::kJson);
  if (!action) {
    return PrintError(Error{ErrorCode::kUsage, "no command given (see `udmg-server --help`)"});
  }
  // "udmg-server columns add": how this process is named in udmg_nodes.
  for (const CLI::App* command = &app; !command->get_subcommands().empty();) {
    command = command->get_subcommands().front();
    global.program += " " + command->get_name();
  }
  Status status = action();
  Status written = FlushStdout();
  if (!status.ok()) {
    RecordRefusal(global, status.error());
    return PrintError(status.error());
  }
  if (!written.ok()) return PrintError(written.error());
  return 0;
}

}  // namespace udmg::cli
