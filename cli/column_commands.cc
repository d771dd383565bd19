// columns add | list | remove | bind | unbind: which table columns udmg-server keeps encrypted,
// and whether their values are bound to their rows (docs/security.md).
#include <iostream>
#include <memory>
#include <string>

#include "cli/column_name.h"
#include "cli/commands.h"
#include "cli/json_reports.h"
#include "cli/output.h"
#include "engine/envelope.h"
#include "pipeline/reencrypt.h"

namespace udmg::cli {
namespace {

struct ColumnArgs {
  std::string name;            // TABLE.COLUMN
  std::string key_column = "id";
};

// A varchar(n) value column holds what it holds now, but the envelope of its longest value may
// not fit: the write would then fail (PostgreSQL refuses it), so say so while it is cheap to fix.
Status WarnWhenEnvelopesMayNotFit(db::Store& store, const db::ColumnRef& column) {
  UDMG_ASSIGN_OR_RETURN(db::ValueColumnRoom room, store.MeasureValueColumn(column));
  uint64_t needed = MaxEnvelopeLength(room.longest_plaintext);
  if (room.max_chars && *room.max_chars < needed) {
    PrintWarning("column " + column.Name() + " holds at most " +
                 std::to_string(*room.max_chars) + " characters, but the encrypted form of its " +
                 "longest value needs up to " + std::to_string(needed) +
                 ": widen it (e.g. ALTER TABLE ... TYPE text) before `sweep` or `secret put`");
  }
  return Status::Ok();
}

// Registered anyway (the role may change before the first job), but every job, verify and
// prune-keys will refuse the column until the role sees every row.
void WarnIfRowsHidden(db::Store& store, const db::ColumnRef& column) {
  Result<std::optional<std::string>> hidden = store.RowsHiddenFrom(column);
  if (hidden.ok() && *hidden) {
    PrintWarning("udmg-server may not see every row of " + column.Name() + ": " + **hidden +
                 "; until then jobs, verify and prune-keys refuse this column");
  }
}

// The database, with this process as the author of the audit entry a column change appends: it
// needs the keyring and this node's K0 as its current root key, which seals the entry
// (docs/decisions.md, "Column changes need K0").
Result<std::unique_ptr<db::Store>> OpenSignedStore(const GlobalOptions& global) {
  UDMG_ASSIGN_OR_RETURN(KeyringView view, OpenKeyringView(global));
  SignAuditEntries(*view.store, global, view.k0);
  return std::move(view.store);
}

Status RunAdd(const GlobalOptions& global, const ColumnArgs& args) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.name));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenSignedStore(global));
  db::ColumnRef column{name.table, name.column, args.key_column};
  UDMG_RETURN_IF_ERROR(store->AddColumn(column));
  std::cout << "registered " << column.Name() << " (key column " << column.key_column << ")\n";
  WarnIfRowsHidden(*store, column);
  return WarnWhenEnvelopesMayNotFit(*store, column);
}

Status RunList(const GlobalOptions& global, bool as_json) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(auto columns, store->ListColumns());
  if (as_json) {
    PrintJson(ColumnsJson(columns));
    return Status::Ok();
  }
  for (const db::ColumnRef& column : columns) {
    std::cout << column.Name() << " key=" << column.key_column;
    if (column.bound()) std::cout << " bound_since=" << *column.bound_since;
    std::cout << "\n";
  }
  return Status::Ok();
}

// The unfinished jobs (running or stopped) that have `column`, of either kind.
Result<std::vector<db::JobRecord>> JobsWithColumn(db::Store& store, const ColumnName& column) {
  std::vector<db::JobRecord> jobs;
  for (std::string_view kind : {pipeline::kReencryptJobKind, pipeline::kSweepJobKind}) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.FindLatestJobNotDone(kind));
    if (!job || !pipeline::IsResumableJob(*job)) continue;
    for (const db::JobColumnProgress& progress : job->columns) {
      if (progress.column.table == column.table && progress.column.column == column.column) {
        jobs.push_back(std::move(*job));
        break;
      }
    }
  }
  return jobs;
}

std::string ResumeCommand(std::string_view kind) {
  return kind == pipeline::kSweepJobKind ? "sweep" : "reencrypt";
}

// A running job may be writing the column right now: it must stop first (its process, or
// `--mark-stopped` when that process died). A stopped job leaves the column out when resumed.
Status RunRemove(const GlobalOptions& global, const ColumnArgs& args) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.name));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenSignedStore(global));
  UDMG_ASSIGN_OR_RETURN(std::vector<db::JobRecord> jobs, JobsWithColumn(*store, name));
  for (const db::JobRecord& job : jobs) {
    if (job.state != db::JobState::kRunning) continue;
    return Status(ErrorCode::kConflict,
                  job.kind + " job " + std::to_string(job.id) + " is running over " + name.table +
                      "." + name.column + ": stop it first (or, if its process died, `udmg-server " +
                      ResumeCommand(job.kind) + " --mark-stopped`); nothing was changed");
  }
  UDMG_RETURN_IF_ERROR(store->RemoveColumn(name.table, name.column));
  std::cout << "unregistered " << name.table << "." << name.column
            << " (its values are left as they are)\n";
  for (const db::JobRecord& job : jobs) {
    std::cout << "stopped " << job.kind << " job " << job.id << " had it: when resumed (`udmg-server "
              << ResumeCommand(job.kind) << "`) it leaves the column out\n";
  }
  return Status::Ok();
}

// A running or stopped job took the columns' bindings when it started: changing one under it
// would leave its stale predicate and its final count out of step.
Status RefuseWhileAJobIsUnfinished(db::Store& store) {
  for (std::string_view kind : {pipeline::kReencryptJobKind, pipeline::kSweepJobKind}) {
    UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job, store.FindLatestJobNotDone(kind));
    if (job && pipeline::IsResumableJob(*job)) {
      return Status(ErrorCode::kConflict,
                    std::string(kind) + " job " + std::to_string(job->id) + " is " +
                        std::string(db::JobStateName(job->state)) +
                        ": let it finish (`udmg-server " +
                        (kind == pipeline::kSweepJobKind ? "sweep" : "reencrypt --resume") +
                        "`) before changing a column's binding; nothing was changed");
    }
  }
  return Status::Ok();
}

Status RunBind(const GlobalOptions& global, const ColumnArgs& args, bool bound) {
  UDMG_ASSIGN_OR_RETURN(ColumnName name, ParseColumnName(args.name));
  UDMG_ASSIGN_OR_RETURN(auto store, OpenSignedStore(global));
  UDMG_RETURN_IF_ERROR(RefuseWhileAJobIsUnfinished(*store));
  UDMG_ASSIGN_OR_RETURN(db::ColumnRef column,
                        store->SetColumnBinding(name.table, name.column, bound));
  if (!column.bound()) {
    std::cout << "unbound " << column.Name()
              << ": new values are written unbound; bound values stay readable\n";
    return Status::Ok();
  }
  std::cout << "bound " << column.Name() << " to its rows: new values are written bound, and an "
            << "unbound value under master version " << *column.bound_since
            << " or newer is refused\n"
            << "existing values move to the bound form with `udmg-server sweep`; "
            << "`rotate-master-key --reencrypt` then `prune-keys` makes the binding hold for every "
            << "value\n";
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
  auto list_json = std::make_shared<bool>(false);
  list->add_flag("--json", *list_json, "print one JSON document (docs/json.md)");
  list->callback([&, list_json] {
    action = [&, list_json] { return RunList(global, *list_json); };
  });

  CLI::App* remove = columns->add_subcommand("remove", "unregister TABLE.COLUMN");
  remove->add_option("column", args->name, "TABLE.COLUMN")->required();
  remove->callback([&, args] { action = [&, args] { return RunRemove(global, *args); }; });

  CLI::App* bind = columns->add_subcommand(
      "bind", "bind TABLE.COLUMN's values to their rows (table, column and key as AAD)");
  bind->add_option("column", args->name, "TABLE.COLUMN")->required();
  bind->callback([&, args] { action = [&, args] { return RunBind(global, *args, true); }; });

  CLI::App* unbind = columns->add_subcommand("unbind", "write TABLE.COLUMN's values unbound again");
  unbind->add_option("column", args->name, "TABLE.COLUMN")->required();
  unbind->callback([&, args] { action = [&, args] { return RunBind(global, *args, false); }; });
}

}  // namespace udmg::cli
