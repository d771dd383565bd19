// udmg-server's entry point: parses the command line (CLI11) and runs the selected command.
// Returns the process exit code: 0, or a udmg::ErrorCode value (docs/exit-codes.md).
#pragma once

namespace udmg::cli {

int RunCli(int argc, char** argv);

}  // namespace udmg::cli
