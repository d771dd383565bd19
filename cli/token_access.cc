#include "cli/token_access.h"

#include <cstdlib>
#include <string>

#include "cli/key_input.h"
#include "engine/encoding.h"

namespace udmg::cli {
namespace {

Result<std::string> Required(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') {
    return Error{ErrorCode::kBadKey,
                 std::string(name) + " is not set: set " + std::string(kPkcs11ModuleEnv) +
                     " to the token's PKCS#11 module and " + std::string(kPkcs11PinFileEnv) +
                     " to a file holding its user PIN (docs/hsm.md)"};
  }
  return std::string(value);
}

}  // namespace

Result<hsm::TokenAccess> TokenAccessFromEnvironment() {
  hsm::TokenAccess access;
  UDMG_ASSIGN_OR_RETURN(access.module_path, Required(kPkcs11ModuleEnv));
  UDMG_ASSIGN_OR_RETURN(std::string pin_file, Required(kPkcs11PinFileEnv));
  access.pin_source = std::string(kPkcs11PinFileEnv) + " " + pin_file;
  UDMG_ASSIGN_OR_RETURN(SecretBytes text, ReadKeyFile(pin_file, kPkcs11PinFileEnv));
  // The PIN without the newline an editor or `echo` leaves, copied into another wiped buffer.
  const std::string_view pin = TrimWhitespace(AsText(text));
  if (pin.empty()) {
    return Error{ErrorCode::kBadKey, access.pin_source + " is empty: put the token's user PIN in it"};
  }
  access.pin.assign(pin.begin(), pin.end());
  return access;
}

}  // namespace udmg::cli
