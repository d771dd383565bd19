// seal-k0 and unseal-k0 (docs/hsm.md): this node's root key, from its usual source, written
// sealed by an AES key on a PKCS#11 token, or (break-glass) written back in plain. Neither needs
// the database: they change no stored data, only write one 0600 file.
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/key_input.h"
#include "cli/secure_file.h"
#include "cli/token_access.h"
#include "engine/root_key.h"
#include "engine/sealed_root_key.h"
#include "hsm/pkcs11_token.h"

namespace udmg::cli {
namespace {

struct SealArgs {
  OutputFile output;
  std::string token_label;
  std::string key_label;
};

struct UnsealArgs {
  OutputFile output;
};

Status RunSeal(const SealArgs& args) {
  UDMG_RETURN_IF_ERROR(CheckCanCreate(args.output.path, args.output.force));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  UDMG_ASSIGN_OR_RETURN(hsm::TokenAccess access, TokenAccessFromEnvironment());
  UDMG_ASSIGN_OR_RETURN(SealedRootKey sealed,
                        hsm::SealRootKey(access, k0, args.token_label, args.key_label));
  const std::string text = FormatSealedRootKey(sealed) + "\n";
  UDMG_RETURN_IF_ERROR(WriteFileAtomically(args.output.path, AsBytes(text), args.output.force));
  std::cout << "root key (fingerprint " << RootKeyFingerprint(k0) << ") sealed by key '"
            << args.key_label << "' on token '" << args.token_label << "', written to "
            << args.output.path << "\n"
            << "point UDMG_SECURITY_PASSPHRASE_KEY_FILE at it (with " << kPkcs11ModuleEnv
            << " and " << kPkcs11PinFileEnv << ") and remove the plain key from this node\n";
  return Status::Ok();
}

Status RunUnseal(const UnsealArgs& args) {
  UDMG_RETURN_IF_ERROR(CheckCanCreate(args.output.path, args.output.force));
  UDMG_ASSIGN_OR_RETURN(SecretBytes k0, LoadRootKey());
  UDMG_RETURN_IF_ERROR(WriteFileAtomically(args.output.path, KeyFileText(k0), args.output.force));
  std::cout << "root key (fingerprint " << RootKeyFingerprint(k0) << ") written in plain to "
            << args.output.path << " (mode 0600): keep it offline and remove it when done\n";
  return Status::Ok();
}

}  // namespace

void AddSealingCommands(CLI::App& app, const GlobalOptions&, Action& action) {
  auto [seal_command, seal] = AddCommand<SealArgs>(
      app, action, "seal-k0",
      "write this node's root key sealed by an AES key on a PKCS#11 token (CKM_AES_KEY_WRAP; "
      "module and PIN from $UDMG_PKCS11_MODULE and $UDMG_PKCS11_PIN_FILE; docs/hsm.md)",
      RunSeal);
  AddOutputFileOptions(seal_command, seal->output, "the sealed key file to create (mode 0600)");
  seal_command->add_option("--token-label", seal->token_label, "the label of the token")
      ->required();
  seal_command->add_option("--key-label", seal->key_label,
                           "the label of the AES wrapping key on that token")
      ->required();

  auto [unseal_command, unseal] = AddCommand<UnsealArgs>(
      app, action, "unseal-k0",
      "break-glass: write this node's root key in plain (64 hex characters) to a file; the key "
      "sealed or not, from its usual source",
      RunUnseal);
  AddOutputFileOptions(unseal_command, unseal->output, "the key file to create (mode 0600)");
}

}  // namespace udmg::cli
