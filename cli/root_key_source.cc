#include "cli/root_key_source.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "cli/environment_secrets.h"
#include "cli/key_input.h"
#include "engine/root_key.h"

namespace udmg::cli {
namespace {

// One configured source: its name for messages and, for a file, its path (empty: the key is in
// the environment itself).
struct Source {
  std::string name;
  std::string path;
};

std::optional<std::string> Variable(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::vector<Source> ConfiguredRootKeySources() {
  std::vector<Source> sources;
  if (SecretFromEnvironment(kRootKeyEnv)) sources.push_back({std::string(kRootKeyEnv), ""});
  if (std::optional<std::string> path = Variable(kRootKeyFileEnv)) {
    sources.push_back({std::string(kRootKeyFileEnv), *path});
  }
  // systemd sets CREDENTIALS_DIRECTORY for any credential of the unit; only ours counts.
  if (std::optional<std::string> directory = Variable("CREDENTIALS_DIRECTORY")) {
    std::string path = (std::filesystem::path(*directory) / kRootKeyCredential).string();
    struct stat info {};
    if (!directory->empty() && ::lstat(path.c_str(), &info) == 0) {
      sources.push_back({"systemd credential " + std::string(kRootKeyCredential), path});
    }
  }
  return sources;
}

std::string JoinNames(const std::vector<Source>& sources) {
  std::string names;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (i > 0) names += i + 1 == sources.size() ? " and " : ", ";
    names += sources[i].name;
  }
  return names;
}

}  // namespace

std::string RootKeySourceChoices() {
  return std::string(kRootKeyEnv) + ", " + std::string(kRootKeyFileEnv) +
         " or the systemd credential " + std::string(kRootKeyCredential);
}

Result<std::optional<RootKeyText>> ReadRootKeyText() {
  std::vector<Source> sources = ConfiguredRootKeySources();
  if (sources.empty()) return std::optional<RootKeyText>();
  if (sources.size() > 1) {
    return Error{ErrorCode::kBadKey, "the root key is given by more than one source (" +
                                         JoinNames(sources) + "): keep exactly one of " +
                                         RootKeySourceChoices()};
  }
  Source& source = sources.front();
  if (source.path.empty()) {
    return std::optional<RootKeyText>(
        RootKeyText{std::move(source.name), *SecretFromEnvironment(kRootKeyEnv)});
  }
  UDMG_ASSIGN_OR_RETURN(SecretBytes text, ReadKeyFile(source.path, source.name));
  // Read: the path is a file, not a key, so status and doctor may show it.
  return std::optional<RootKeyText>(
      RootKeyText{source.name + " (" + source.path + ")", std::move(text)});
}

Result<SecretBytes> LoadRootKey() {
  UDMG_ASSIGN_OR_RETURN(std::optional<RootKeyText> text, ReadRootKeyText());
  if (!text) {
    return Error{ErrorCode::kBadKey, "the root key is not set: give this node's root key (64 hex "
                                     "characters) in " +
                                         RootKeySourceChoices() + " and run again"};
  }
  return RootKeyFromText(AsText(text->text), text->source);
}

}  // namespace udmg::cli
