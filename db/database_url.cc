#include "db/database_url.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace udmg::db {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite:";
constexpr std::string_view kAcceptedForms = "use sqlite:PATH or postgresql://USER@HOST:PORT/DBNAME";

// "%41b" -> "Ab", as libpq decodes URL parts; nullopt for a '%' not followed by two hex digits.
std::optional<std::string> PercentDecoded(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex(text[i + 1]), low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::string_view PostgresScheme(std::string_view url) {
  for (std::string_view prefix : {"postgresql://", "postgres://"}) {
    if (url.starts_with(prefix)) return prefix;
  }
  return {};
}

// libpq's user info: up to the first '@' met before any '/' (npos: none).
size_t LibpqUserInfoEnd(std::string_view rest) {
  size_t end = rest.find_first_of("@/");
  return end != std::string_view::npos && rest[end] == '@' ? end : std::string_view::npos;
}

// Why libpq's message about `url` could quote part of a password; "" when it could not.
std::string_view MisreadPassword(std::string_view url) {
  for (size_t i = url.find('%'); i != std::string_view::npos; i = url.find('%', i + 1)) {
    if (!PercentDecoded(url.substr(i, 3))) {
      return "has a '%' that is not followed by two hex digits (write a literal '%' as %25)";
    }
  }
  std::string_view rest = url.substr(PostgresScheme(url).size());
  size_t at = LibpqUserInfoEnd(rest);
  if (at == std::string_view::npos) return "";
  std::string_view host = rest.substr(at + 1);
  host = host.substr(0, host.find_first_of("/?"));
  if (host.find('@') != std::string_view::npos) {
    return "has an '@' after its user name and password (an '@' inside the password must be "
           "written %40)";
  }
  return "";
}

}  // namespace

Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url) {
  if (url.starts_with(kSqliteScheme)) {
    std::string_view path = url.substr(kSqliteScheme.size());
    if (path.empty()) {
      return Error{ErrorCode::kBadInput, "the database URL 'sqlite:' has no path; use sqlite:PATH"};
    }
    return DatabaseUrl{Backend::kSqlite, std::string(path)};
  }
  if (!PostgresScheme(url).empty()) {
    if (std::string_view why = MisreadPassword(url); !why.empty()) {
      return Error{ErrorCode::kBadInput,
                   "the database URL " + std::string(why) +
                       "; check the URL, and better put the password in PGPASSWORD or ~/.pgpass"};
    }
    return DatabaseUrl{Backend::kPostgres, std::string(url)};
  }
  return Error{ErrorCode::kBadInput,
               "the database URL has an unknown form; " + std::string(kAcceptedForms)};
}

std::string RedactPasswords(std::string_view message, std::string_view url) {
  std::vector<std::string> secrets;
  auto add = [&](std::string_view secret) {
    std::optional<std::string> decoded = PercentDecoded(secret);
    for (std::string_view reading : {secret, decoded ? std::string_view(*decoded) : secret}) {
      // Stars alone are their own mask; replacing them would grow every run of stars (the mask
      // included) at each pass. Any other secret loses a character that is not a star each time.
      if (reading.find_first_not_of('*') != std::string_view::npos) secrets.emplace_back(reading);
    }
  };
  std::string_view rest = url.substr(PostgresScheme(url).size());
  // The password as libpq reads it (to the first '@') and as meant (to the last one), and the
  // pieces between the '@'s, which libpq puts into the host name.
  std::string_view user_info = rest.substr(0, rest.substr(0, rest.find('/')).rfind('@'));
  if (LibpqUserInfoEnd(rest) != std::string_view::npos &&
      user_info.find(':') != std::string_view::npos) {
    std::string_view password = user_info.substr(user_info.find(':') + 1);
    add(password);
    for (size_t start = 0; start <= password.size();) {
      size_t at = password.find('@', start);
      add(password.substr(start, at == std::string_view::npos ? at : at - start));
      if (at == std::string_view::npos) break;
      start = at + 1;
    }
  }
  // Every '?' and '&' may start a parameter: libpq's query starts at the '?' after the host,
  // which may follow '?'s of the user-info, so each of them is taken as a start.
  for (size_t start = url.find_first_of("?&"); start != std::string_view::npos;
       start = url.find_first_of("?&", start + 1)) {
    std::string_view parameter = url.substr(start + 1);
    parameter = parameter.substr(0, parameter.find('&'));
    size_t equals = parameter.find('=');
    std::optional<std::string> name = PercentDecoded(parameter.substr(0, equals));
    std::string lower = name ? *name : std::string(parameter.substr(0, equals));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (equals != std::string_view::npos && lower.find("password") != std::string::npos) {
      add(parameter.substr(equals + 1));
    }
  }
  // Longest first, so that a piece never leaves the rest of a longer secret behind.
  std::sort(secrets.begin(), secrets.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  std::string out(message);
  for (const std::string& secret : secrets) {
    for (size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  return out;
}

std::string RedactUrl(std::string_view url) {
  // libpq reads a URL only after one of these prefixes; anything else is keyword=value text, which
  // may hold a password anywhere: it is never shown.
  std::string_view scheme = PostgresScheme(url);
  if (scheme.empty()) return "a PostgreSQL URL";
  std::string_view rest = url.substr(scheme.size());
  std::string out(scheme);
  // The user info ends at an '@'. libpq takes the first '@' before any '/', even past a '?'
  // ("u:pa?ss@db" is user u, password pa?ss); an operator who left an '@' of the password
  // unencoded meant the last one before the query. Everything up to the later of the two goes,
  // but the user name (up to libpq's ':').
  const size_t libpq_at = rest.substr(0, rest.find('/')).find('@');
  const size_t last_at = rest.substr(0, rest.find('?')).rfind('@');
  size_t at = std::string_view::npos;
  if (libpq_at != std::string_view::npos) at = libpq_at;
  if (last_at != std::string_view::npos && (at == std::string_view::npos || last_at > at)) {
    at = last_at;
  }
  if (at != std::string_view::npos) {
    std::string_view user_info = rest.substr(0, at);
    out += std::string(user_info.substr(0, user_info.find(':'))) + "@";
    rest = rest.substr(at + 1);
  }
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  out += rest;
  std::string kept;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view parameter = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    // libpq percent-decodes parameter names ("pass%77ord" is password); a name that does not
    // decode, or names any password (password, sslpassword), is left out.
    std::optional<std::string> name = PercentDecoded(parameter.substr(0, parameter.find('=')));
    if (!name || parameter.empty()) continue;
    std::transform(name->begin(), name->end(), name->begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (name->find("password") != std::string::npos) continue;
    // An '@' kept here could become user info once a dropped parameter took the '/' before it
    // away ("?:&password=/&x=@h" would read as user "db?", password "&x="): it is shown encoded,
    // so the only '@' left is the one after the user name.
    kept += kept.empty() ? "" : "&";
    for (char c : parameter) kept += c == '@' ? std::string("%40") : std::string(1, c);
  }
  if (!kept.empty()) out += "?" + kept;
  return out;
}

}  // namespace udmg::db
