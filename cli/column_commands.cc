// columns add | list | remove: which table columns udmg-server keeps encrypted.
#include <iostream>
#include <memory>
#include <string>

#include "cli/column_name.h"
#include "cli/commands.h"

namespace udmg::cli {
namespace {

struct ColumnArgs {
  std::string name;            // TABLE.COLUMN
  std::string key_column = "id";
};

Status RunAdd(const GlobalOptions& global, const ColumnArgs& args) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.name));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  db::ColumnRef column{name.table, name.column, args.key_column};
  UDMG_RETURN_IF_ERROR(store->AddColumn(column));
  std::cout << "registered " << column.Name() << " (key column " << column.key_column << ")\n";
  return Status::Ok();
}

Status RunList(const GlobalOptions& global) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(auto columns, store->ListColumns());
  for (const db::ColumnRef& column : columns) {
    std::cout << column.Name() << " key=" << column.key_column << "\n";
  }
  return Status::Ok();
}

Status RunRemove(const GlobalOptions& global, const ColumnArgs& args) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.name));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_RETURN_IF_ERROR(store->RemoveColumn(name.table, name.column));
  std::cout << "unregistered " << name.table << "." << name.column
            << " (its values are left as they are)\n";
  return Status::Ok();
}

}  // namespace

void AddColumnCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  CLI::App* columns = app.add_subcommand("columns", "register the columns kept encrypted");
  columns->require_subcommand(1);
  auto args = std::make_shared<ColumnArgs>();

  CLI::App* add = columns->add_subcommand("add", "register TABLE.COLUMN");
  add->add_option("column", args->name, "TABLE.COLUMN")->required();
  add->add_option("--key", args->key_column, "the table's key column (default id)");
  add->callback([&, args] { action = [&, args] { return RunAdd(global, *args); }; });

  CLI::App* list = columns->add_subcommand("list", "list the registered columns");
  list->callback([&] { action = [&] { return RunList(global); }; });

  CLI::App* remove = columns->add_subcommand("remove", "unregister TABLE.COLUMN");
  remove->add_option("column", args->name, "TABLE.COLUMN")->required();
  remove->callback([&, args] { action = [&, args] { return RunRemove(global, *args); }; });
}

}  // namespace udmg::cli
