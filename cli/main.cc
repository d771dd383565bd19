#include "cli/app.h"

int main(int argc, char** argv) { return udmg::cli::RunCli(argc, argv); }
