#include "cli/context.h"

#include <ctime>
#include <string_view>

#include "cli/output.h"

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

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace udmg::cli
