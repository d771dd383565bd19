// --db / UDMG_DATABASE_URL (db/database_url.h: ParseDatabaseUrl, and RedactUrl, which every
// PostgreSQL message shows). A URL that parses
// prints back to itself (sqlite:PATH or the whole PostgreSQL URL); a refusal is kBadInput on one
// line. The redacted form of any text holds no password as libpq itself reads it
// (PQconninfoParse: the user-info password and every password= parameter, percent-decoded); an
// accepted PostgreSQL URL has no invalid percent escape; a message quoting the password holds
// none of it after RedactPasswords.
#include <libpq-fe.h>

#include <cctype>
#include <optional>
#include <string>

#include "db/database_url.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

namespace {

// The password libpq would send for `conninfo`, if it parses and names one.
std::optional<std::string> LibpqPassword(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  PQfreemem(error);
  if (options == nullptr) return std::nullopt;
  std::optional<std::string> password;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) == "password" && option->val != nullptr &&
        option->val[0] != '\0') {
      password = option->val;
    }
  }
  PQconninfoFree(options);
  return password;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view url = fuzz::InputText(data, size);
  Result<db::DatabaseUrl> parsed = db::ParseDatabaseUrl(url);
  if (parsed.ok()) {
    FUZZ_CHECK(!parsed->target.empty(), "a URL that names nothing");
    const std::string printed =
        parsed->backend == db::Backend::kSqlite ? "sqlite:" + parsed->target : parsed->target;
    FUZZ_CHECK(printed == url, "a parsed URL does not print back to itself");
  } else {
    fuzz::CheckError(parsed.error(), ErrorCode::kBadInput);
  }
  // libpq reads C strings: a NUL cuts the URL there, as it would in argv or the environment.
  const std::string text(url.substr(0, url.find('\0')));
  const std::string redacted = db::RedactUrl(text);
  FUZZ_CHECK(!LibpqPassword(redacted).has_value(), "a redacted URL still holds a password");
  const bool is_postgres = text.starts_with("postgresql://") || text.starts_with("postgres://");
  if (parsed.ok() && is_postgres) {
    // libpq quotes a token whose '%' escape is invalid, and puts what follows a second '@' into
    // the host name of its message: such URLs are refused before libpq sees them.
    for (size_t at = text.find('%'); at != std::string::npos; at = text.find('%', at + 1)) {
      FUZZ_CHECK(at + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[at + 1])) &&
                     std::isxdigit(static_cast<unsigned char>(text[at + 2])),
                 "a URL with an invalid percent escape was accepted");
    }
  }
  // A libpq message that quotes the password (as its host-name and token messages quote parts of
  // a mistyped URL) holds none of it once redacted. The mask is stars, so a password with a star
  // may be spelt again by a mask and its neighbours ("addre" + "***" holds "e*"): only passwords
  // without one are checked.
  std::optional<std::string> password = LibpqPassword(text);
  if (is_postgres && password && !password->empty() &&
      password->find('*') == std::string::npos) {
    const std::string message =
        "could not translate host name \"" + *password + "\" to address: Name or service unknown";
    FUZZ_CHECK(db::RedactPasswords(message, text).find(*password) == std::string::npos,
               "a libpq message still holds the password after RedactPasswords");
  }
  return 0;
}
