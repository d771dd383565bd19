#include "cli/context.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

#include "cli/output.h"
#include "pipeline/audit_trail.h"

namespace udmg::cli {

Result<std::unique_ptr<db::Store>> OpenMigratedStore(const GlobalOptions& global,
                                                     db::OpenMode mode) {
  UDMG_ASSIGN_OR_RETURN(auto store,
                        db::OpenStore(db::ResolveDatabaseUrl(global.database_url), mode));
  UDMG_RETURN_IF_ERROR(store->Migrate());
  return store;
}

Result<std::unique_ptr<pipeline::SecretsClient>> OpenClient(const GlobalOptions& global) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  pipeline::ClientOptions options{global.program, PrintWarning};
  return pipeline::SecretsClient::Open(std::move(store), std::move(k0), std::move(options));
}

Result<KeyringView> OpenKeyringView(const GlobalOptions& global) {
  KeyringView view;
  UDMG_ASSIGN_OR_RETURN(view.store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(view.k0, LoadRootKey());
  UDMG_ASSIGN_OR_RETURN(std::optional<KeyringRecords> records, view.store->LoadKeyring());
  if (!records) {
    return Error{ErrorCode::kNotInitialized,
                 "the database has no keyring: run `udmg-server init` first"};
  }
  view.records = std::move(*records);
  UDMG_ASSIGN_OR_RETURN(view.keyring, Keyring::Open(view.records, view.k0));
  return view;
}

void SignAuditEntries(db::Store& store, const GlobalOptions& global, std::span<const uint8_t> k0) {
  store.SetAuditSigner(pipeline::AuditSignerFor(global.program, k0));
}

void SignAuditEntriesIfKeyed(db::Store& store, const GlobalOptions& global) {
  Result<SecretBytes> k0 = LoadRootKey();
  SignAuditEntries(store, global,
                   k0.ok() ? std::span<const uint8_t>(*k0) : std::span<const uint8_t>());
}

void RecordRefusal(const GlobalOptions& global, const Error& error) {
  if (!pipeline::RefusedEventOf(error)) return;  // no connection for other errors
  Result<std::unique_ptr<db::Store>> store =
      db::OpenStore(db::ResolveDatabaseUrl(global.database_url), db::OpenMode::kExisting);
  if (!store.ok()) return;
  SignAuditEntriesIfKeyed(**store, global);
  pipeline::RecordRefusal(**store, error);
}

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t ProcessStartSeconds() {
  // Field 22 of /proc/self/stat is the start in clock ticks after boot; the command name (field
  // 2, in parentheses) may hold spaces, so fields are counted after its closing parenthesis.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  size_t after_name = stat.rfind(')');
  std::istringstream fields(after_name == std::string::npos ? "" : stat.substr(after_name + 1));
  std::string field;
  unsigned long long ticks = 0;
  for (int number = 3; number <= 22 && fields >> field; ++number) {
    if (number == 22) ticks = std::strtoull(field.c_str(), nullptr, 10);
  }
  // btime in /proc/stat: the boot time in whole Unix seconds (rounded down, so the result is too).
  std::ifstream boot_file("/proc/stat");
  std::string line;
  int64_t boot = 0;
  while (std::getline(boot_file, line)) {
    if (line.rfind("btime ", 0) == 0) boot = std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (ticks == 0 || boot <= 0 || ticks_per_second <= 0) return NowSeconds();
  return boot + static_cast<int64_t>(ticks / static_cast<unsigned long long>(ticks_per_second));
}

}  // namespace udmg::cli
