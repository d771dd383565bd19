#include "cli/environment_secrets.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "base/mutex.h"

namespace udmg::cli {
namespace {

struct TakenSecrets {
  base::Mutex mutex;
  // name -> value; nullopt when the variable was unset when taken.
  std::map<std::string, std::optional<SecretBytes>, std::less<>> values GUARDED_BY(mutex);
};

TakenSecrets& Taken() {
  static TakenSecrets taken;  // destroyed (wiped) at exit
  return taken;
}

std::optional<SecretBytes> Copy(const char* value) {
  if (value == nullptr) return std::nullopt;
  return SecretBytes(value, value + std::strlen(value));
}

}  // namespace

void TakeSecretsFromEnvironment(std::initializer_list<std::string_view> names) {
  TakenSecrets& taken = Taken();
  base::MutexLock lock(taken.mutex);
  for (std::string_view name : names) {
    if (taken.values.contains(name)) continue;
    const std::string key(name);
    char* value = std::getenv(key.c_str());
    taken.values[key] = Copy(value);
    if (value == nullptr) continue;
    // getenv points into the environment block itself: wipe it there, then drop the entry.
    Wipe(value, std::strlen(value));
    unsetenv(key.c_str());
  }
}

std::optional<SecretBytes> SecretFromEnvironment(std::string_view name) {
  TakenSecrets& taken = Taken();
  base::MutexLock lock(taken.mutex);
  if (auto it = taken.values.find(name); it != taken.values.end()) return it->second;
  return Copy(std::getenv(std::string(name).c_str()));
}

}  // namespace udmg::cli
