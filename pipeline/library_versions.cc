#include "pipeline/library_versions.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include <oneapi/tbb/version.h>

namespace udmg::pipeline {
namespace {

// PQlibVersion: major * 10000 + minor since PostgreSQL 10.
std::string LibpqVersion() {
  const int version = PQlibVersion();
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> LibraryVersions() {
  return {{"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING)},
          {"SQLite", sqlite3_libversion()},
          {"libpq", LibpqVersion()},
          {"oneTBB", TBB_runtime_version()}};
}

}  // namespace udmg::pipeline
