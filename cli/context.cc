#include "cli/context.h"

#include <ctime>
#include <string_view>

#include "cli/environment_secrets.h"
#include "cli/output.h"
#include "engine/root_key.h"

namespace udmg::cli {

Result<std::unique_ptr<db::Store>> OpenMigratedStore(const GlobalOptions& global,
                                                     db::OpenMode mode) {
  UDMG_ASSIGN_OR_RETURN(auto store,
                        db::OpenStore(db::ResolveDatabaseUrl(global.database_url), mode));
  UDMG_RETURN_IF_ERROR(store->Migrate());
  return store;
}

std::optional<SecretBytes> RootKeyTextFromEnvironment() {
  return SecretFromEnvironment(kRootKeyEnv);
}

Result<SecretBytes> RootKeyFromEnvironment() {
  std::optional<SecretBytes> text = RootKeyTextFromEnvironment();
  if (!text) {
    return Error{ErrorCode::kBadKey, std::string(kRootKeyEnv) +
                                         " is not set: export this node's root key (64 hex "
                                         "characters) and run again"};
  }
  return ParseRootKey(AsText(*text), kRootKeyEnv);
}

Result<std::unique_ptr<pipeline::SecretsClient>> OpenClient(const GlobalOptions& global) {
  UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, RootKeyFromEnvironment());
  pipeline::ClientOptions options{global.program, PrintWarning};
  return pipeline::SecretsClient::Open(std::move(store), std::move(k0), std::move(options));
}

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace udmg::cli
