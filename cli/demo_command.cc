// demo --rows N: a credentials table with N encrypted values, to try the other commands on.
#include <iostream>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "db/demo_table.h"
#include "engine/value_cipher.h"
#include "pipeline/nonce_budget.h"

namespace udmg::cli {
namespace {

// The demo holds every row in memory before inserting them: a bound keeps it a demo.
constexpr int64_t kMaxDemoRows = 1'000'000;

Status RunDemo(const GlobalOptions& global, int64_t rows) {
  if (rows > kMaxDemoRows) {
    return Status(ErrorCode::kBadInput, "demo --rows must be at most " +
                                            std::to_string(kMaxDemoRows) +
                                            " (scripts/bench.sh builds larger data sets)");
  }
  UDMG_ASSIGN_OR_RETURN(auto client, OpenClient(global));
  db::Store& store = client->store();
  const db::ColumnRef column{"credentials", "secret", "id"};
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<db::DemoTable> demo,
                        db::OpenDemoTable(db::ResolveDatabaseUrl(global.database_url)));
  UDMG_RETURN_IF_ERROR(demo->Create());
  Status registered = store.AddColumn(column);
  if (!registered.ok() && registered.code() != ErrorCode::kConflict) return registered;

  ValueCipher cipher(client->shared_keyring());
  std::vector<db::DemoRow> demo_rows;
  demo_rows.reserve(static_cast<size_t>(rows));
  for (int64_t id = 1; id <= rows; ++id) {
    UDMG_ASSIGN_OR_RETURN(std::string secret,
                          cipher.Encrypt("demo-secret-" + std::to_string(id)));
    demo_rows.push_back(db::DemoRow{id, "demo-" + std::to_string(id), std::move(secret)});
  }
  UDMG_RETURN_IF_ERROR(
      pipeline::RecordEncryptions(store, cipher.encryptions(), client->warning_sink()));
  UDMG_RETURN_IF_ERROR(demo->Insert(demo_rows));
  std::cout << "demo: inserted " << rows << " rows into credentials (id 1.." << rows
            << "), secret encrypted under master key version "
            << client->keyring().active_version() << "; credentials.secret is registered\n";
  return Status::Ok();
}

}  // namespace

void AddDemoCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto rows = std::make_shared<int64_t>(0);
  CLI::App* demo = app.add_subcommand(
      "demo", "create credentials(id, name, secret) with N encrypted demo values (after init)");
  demo->add_option("--rows", *rows, "how many rows")->required()->check(CLI::NonNegativeNumber);
  demo->callback([&, rows] { action = [&, rows] { return RunDemo(global, *rows); }; });
}

}  // namespace udmg::cli
