// secret get | put: one value through the library API (pipeline::SecretsClient), so a stale value
// read here is migrated exactly as the server's own reads migrate it.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/column_name.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace udmg::cli {
namespace {

struct SecretArgs {
  std::string column;  // TABLE.COLUMN
  std::string key;
};

struct Target {
  std::unique_ptr<pipeline::SecretsClient> client;
  db::ColumnRef column;
  db::RowKey key;
};

// The client, the registered column (kNotFound when it is not registered) and the row key.
Result<Target> OpenTarget(const GlobalOptions& global, const SecretArgs& args) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.column));
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  UDMG_ASSIGN_OR_RETURN(db::ColumnRef column, client->store().FindColumn(name.table, name.column));
  db::RowKey key = db::ParseRowKey(args.key);
  return Target{std::move(client), std::move(column), std::move(key)};
}

// All of stdin, exactly as given, in a wiped buffer.
Result<SecretBytes> ReadAllStdin() {
  SecretBytes value;
  uint8_t chunk[4096];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
    value.insert(value.end(), chunk, chunk + got);
  }
  bool failed = std::ferror(stdin) != 0;
  Wipe(chunk, sizeof(chunk));
  if (failed) return Error{ErrorCode::kBadInput, "could not read the value from stdin"};
  return value;
}

Status RunGet(const GlobalOptions& global, const SecretArgs& args) {
  UDMG_ASSIGN_OR_RETURN(Target target, OpenTarget(global, args));
  UDMG_ASSIGN_OR_RETURN(pipeline::ReadOutcome outcome,
                        target.client->Read(target.column, target.key));
  if (!outcome.plaintext) {
    PrintNote(RowName(target.column, target.key) + " is NULL: nothing printed");
    return Status::Ok();
  }
  const SecretBytes& plaintext = *outcome.plaintext;
  if (!plaintext.empty() &&
      std::fwrite(plaintext.data(), 1, plaintext.size(), stdout) != plaintext.size()) {
    return Error{ErrorCode::kInternal, "could not write the value to stdout"};
  }
  if (std::fflush(stdout) != 0) {
    return Error{ErrorCode::kInternal, "could not write the value to stdout"};
  }
  return Status::Ok();
}

Status RunPut(const GlobalOptions& global, const SecretArgs& args) {
  UDMG_ASSIGN_OR_RETURN(Target target, OpenTarget(global, args));
  UDMG_ASSIGN_OR_RETURN(SecretBytes value, ReadAllStdin());
  UDMG_RETURN_IF_ERROR(target.client->Write(target.column, target.key, value));
  std::printf("wrote %s under master key version %u\n",
              RowName(target.column, target.key).c_str(),
              static_cast<unsigned>(target.client->keyring().active_version()));
  return Status::Ok();
}

}  // namespace

void AddSecretCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  CLI::App* secret = app.add_subcommand("secret", "read or write one encrypted value");
  secret->require_subcommand(1);
  auto args = std::make_shared<SecretArgs>();

  CLI::App* get = secret->add_subcommand(
      "get", "print a value's plaintext exactly (no newline added); migrates a stale value");
  get->add_option("column", args->column, "TABLE.COLUMN")->required();
  get->add_option("key", args->key, "the row's key")->required();
  get->callback([&, args] { action = [&, args] { return RunGet(global, *args); }; });

  CLI::App* put = secret->add_subcommand(
      "put", "encrypt the bytes on stdin (exactly) into an existing row");
  put->add_option("column", args->column, "TABLE.COLUMN")->required();
  put->add_option("key", args->key, "the row's key")->required();
  put->callback([&, args] { action = [&, args] { return RunPut(global, *args); }; });
}

}  // namespace udmg::cli
