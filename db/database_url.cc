#include "db/database_url.h"

namespace udmg::db {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite:";
constexpr std::string_view kAcceptedForms = "use sqlite:PATH or postgresql://USER@HOST:PORT/DBNAME";

}  // namespace

Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url) {
  if (url.starts_with(kSqliteScheme)) {
    std::string_view path = url.substr(kSqliteScheme.size());
    if (path.empty()) {
      return Error{ErrorCode::kBadInput, "the database URL 'sqlite:' has no path; use sqlite:PATH"};
    }
    return DatabaseUrl{Backend::kSqlite, std::string(path)};
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return DatabaseUrl{Backend::kPostgres, std::string(url)};
  }
  return Error{ErrorCode::kBadInput,
               "the database URL has an unknown form; " + std::string(kAcceptedForms)};
}

}  // namespace udmg::db
