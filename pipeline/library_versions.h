// The versions of the libraries this build runs on, for `udmg-server --version`: what a bug
// report needs. Runtime versions where the library reports one (the shared object actually
// loaded), not the headers it was compiled against.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace udmg::pipeline {

// ("OpenSSL", "3.0.15"), ("SQLite", "3.40.1"), ("libpq", "15.10"),
// ("oneTBB", "2021.8.0"), in that order.
std::vector<std::pair<std::string, std::string>> LibraryVersions();

}  // namespace udmg::pipeline
