#include "hsm/pkcs11_token.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

namespace udmg::hsm {
namespace {

Error Bad(std::string message) { return Error{ErrorCode::kBadKey, std::move(message)}; }

// A fixed-size, blank-padded PKCS#11 text field (CK_TOKEN_INFO.label) without its padding.
std::string Unpadded(const unsigned char* field, size_t size) {
  std::string text(reinterpret_cast<const char*>(field), size);
  size_t end = text.find_last_not_of(' ');
  return end == std::string::npos ? "" : text.substr(0, end + 1);
}

std::string Quoted(const std::string& label) { return "'" + label + "'"; }

// The module, initialised, and a logged-in session on one token. Everything is undone by the
// destructor, in reverse order.
class TokenSession {
 public:
  static Result<std::unique_ptr<TokenSession>> Open(const TokenAccess& access,
                                                    const std::string& token_label) {
    std::unique_ptr<TokenSession> session(new TokenSession(access.module_path, token_label));
    UDMG_RETURN_IF_ERROR(session->Load());
    UDMG_RETURN_IF_ERROR(session->FindToken());
    UDMG_RETURN_IF_ERROR(session->Login(access));
    return session;
  }

  ~TokenSession() {
    if (logged_in_) functions_->C_Logout(session_);
    if (session_open_) functions_->C_CloseSession(session_);
    if (initialized_) functions_->C_Finalize(nullptr);
    if (library_ != nullptr) ::dlclose(library_);
  }
  TokenSession(const TokenSession&) = delete;
  TokenSession& operator=(const TokenSession&) = delete;

  CK_FUNCTION_LIST* functions() const { return functions_; }
  CK_SESSION_HANDLE session() const { return session_; }
  const std::string& token() const { return token_; }

  std::string Describe() const {
    CK_INFO info{};
    if (functions_->C_GetInfo(&info) != CKR_OK) return module_;
    return module_ + " (" + Unpadded(info.manufacturerID, sizeof(info.manufacturerID)) + ", " +
           Unpadded(info.libraryDescription, sizeof(info.libraryDescription)) + ")";
  }

  // `flag` (CKF_WRAP or CKF_UNWRAP) for CKM_AES_KEY_WRAP on this token, or why not.
  Status CheckMechanism(CK_FLAGS flag) const {
    CK_MECHANISM_INFO info{};
    CK_RV rv = functions_->C_GetMechanismInfo(slot_, CKM_AES_KEY_WRAP, &info);
    const std::string use = flag == CKF_WRAP ? "wrap" : "unwrap";
    if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && (info.flags & flag) == 0)) {
      return Bad("token " + Quoted(token_) + " of " + module_ + " does not offer CKM_AES_KEY_WRAP "
                 "to " + use + ": use a token that does (`pkcs11-tool --module " + module_ +
                 " -M` lists what it offers)");
    }
    if (rv != CKR_OK) return Failed("C_GetMechanismInfo", rv);
    return Status::Ok();
  }

  // The one AES secret key labelled `label`, allowed to do `use` (CKA_WRAP or CKA_UNWRAP, or 0).
  Result<CK_OBJECT_HANDLE> FindKey(const std::string& label, CK_ATTRIBUTE_TYPE use) const {
    const std::string named = "key " + Quoted(label) + " on token " + Quoted(token_);
    CK_ATTRIBUTE search[] = {
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    CK_RV rv = functions_->C_FindObjectsInit(session_, search, 1);
    if (rv != CKR_OK) return Failed("C_FindObjectsInit", rv);
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    rv = functions_->C_FindObjects(session_, found, 2, &count);
    functions_->C_FindObjectsFinal(session_);
    if (rv != CKR_OK) return Failed("C_FindObjects", rv);
    if (count == 0) {
      return Bad("no " + named + ": create it (docs/hsm.md) or give the label of the key that "
                 "sealed the root key (`pkcs11-tool --module " + module_ + " --login -O` lists "
                 "the objects)");
    }
    if (count > 1) {
      return Bad("more than one object is labelled " + Quoted(label) + " on token " +
                 Quoted(token_) + ": give the wrapping key a label of its own");
    }
    CK_OBJECT_CLASS object_class = 0;
    CK_KEY_TYPE key_type = 0;
    CK_BBOOL allowed = CK_FALSE;
    CK_ATTRIBUTE kind[] = {{CKA_CLASS, &object_class, sizeof(object_class)},
                           {CKA_KEY_TYPE, &key_type, sizeof(key_type)}};
    rv = functions_->C_GetAttributeValue(session_, found[0], kind, 2);
    if ((rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) || object_class != CKO_SECRET_KEY ||
        key_type != CKK_AES) {
      return Bad(named + " is not an AES secret key: the root key is sealed by an AES key "
                 "(docs/hsm.md)");
    }
    if (use != 0) {
      CK_ATTRIBUTE may[] = {{use, &allowed, sizeof(allowed)}};
      rv = functions_->C_GetAttributeValue(session_, found[0], may, 1);
      if (rv != CKR_OK || allowed != CK_TRUE) {
        const std::string attribute = use == CKA_WRAP ? "CKA_WRAP" : "CKA_UNWRAP";
        return Bad(named + " may not " + (use == CKA_WRAP ? "wrap" : "unwrap") + " (" +
                   attribute + " is false): create the wrapping key with wrap and unwrap usage "
                   "(docs/hsm.md)");
      }
    }
    return found[0];
  }

  // A PKCS#11 call that failed unexpectedly.
  Error Failed(const std::string& call, CK_RV rv) const {
    return Bad(call + " on token " + Quoted(token_) + " of " + module_ + " failed (" +
               ReturnValueName(rv) + ")");
  }

 private:
  TokenSession(std::string module, std::string token)
      : module_(std::move(module)), token_(std::move(token)) {}

  Status Load() {
    library_ = ::dlopen(module_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) {
      const char* reason = ::dlerror();
      return Bad("the PKCS#11 module " + module_ + " cannot be loaded (" +
                 std::string(reason != nullptr ? reason : "unknown reason") +
                 "): set UDMG_PKCS11_MODULE to the token's PKCS#11 library");
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(library_, "C_GetFunctionList"));
    if (get_list == nullptr || get_list(&functions_) != CKR_OK || functions_ == nullptr) {
      return Bad(module_ + " is not a PKCS#11 module (no C_GetFunctionList): set "
                 "UDMG_PKCS11_MODULE to the token's PKCS#11 library");
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = functions_->C_Initialize(&args);
    if (rv != CKR_OK) {
      return Bad("the PKCS#11 module " + module_ + " does not start (C_Initialize: " +
                 ReturnValueName(rv) + "): check its configuration (e.g. SOFTHSM2_CONF)");
    }
    initialized_ = true;
    return Status::Ok();
  }

  Status FindToken() {
    CK_ULONG count = 0;
    CK_RV rv = functions_->C_GetSlotList(CK_TRUE, nullptr, &count);
    std::vector<CK_SLOT_ID> slots(count);
    if (rv == CKR_OK && count > 0) rv = functions_->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return Failed("C_GetSlotList", rv);
    slots.resize(count);
    for (CK_SLOT_ID slot : slots) {
      CK_TOKEN_INFO info{};
      if (functions_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      if (Unpadded(info.label, sizeof(info.label)) != token_) continue;
      if (info.flags & CKF_USER_PIN_LOCKED) return PinLocked();
      slot_ = slot;
      rv = functions_->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session_);
      if (rv != CKR_OK) return Failed("C_OpenSession", rv);
      session_open_ = true;
      return Status::Ok();
    }
    return Bad("no token labelled " + Quoted(token_) + " is present in " + module_ +
               ": plug it in or check the label (`pkcs11-tool --module " + module_ +
               " -L` lists the tokens)");
  }

  Error PinLocked() const {
    return Bad("the user PIN of token " + Quoted(token_) + " is locked (CKR_PIN_LOCKED): the "
               "token's security officer must unlock or reset it");
  }

  Status Login(const TokenAccess& access) {
    CK_RV rv = functions_->C_Login(session_, CKU_USER, const_cast<uint8_t*>(access.pin.data()),
                                   access.pin.size());
    if (rv == CKR_USER_ALREADY_LOGGED_IN) return Status::Ok();
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
      return Bad("the PIN in " + access.pin_source + " is wrong for token " + Quoted(token_) +
                 " (" + ReturnValueName(rv) + "): put the token's user PIN in that file (mode "
                 "0600); each wrong try brings the token closer to locking the PIN");
    }
    if (rv == CKR_PIN_LOCKED) return PinLocked();
    if (rv != CKR_OK) return Failed("C_Login", rv);
    logged_in_ = true;
    return Status::Ok();
  }

  std::string module_;
  std::string token_;
  void* library_ = nullptr;
  CK_FUNCTION_LIST* functions_ = nullptr;
  bool initialized_ = false;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE session_ = 0;
  bool session_open_ = false;
  bool logged_in_ = false;
};

// A session object destroyed on scope exit.
class SessionObject {
 public:
  SessionObject(const TokenSession& token, CK_OBJECT_HANDLE handle)
      : token_(token), handle_(handle) {}
  ~SessionObject() { token_.functions()->C_DestroyObject(token_.session(), handle_); }
  SessionObject(const SessionObject&) = delete;
  SessionObject& operator=(const SessionObject&) = delete;
  CK_OBJECT_HANDLE get() const { return handle_; }

 private:
  const TokenSession& token_;
  CK_OBJECT_HANDLE handle_;
};

// The template of K0 as a session object: a generic secret of 32 bytes that may be read back.
struct RootKeyTemplate {
  CK_OBJECT_CLASS object_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  std::vector<CK_ATTRIBUTE> attributes{
      {CKA_CLASS, &object_class, sizeof(object_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_TOKEN, &no, sizeof(no)},
      {CKA_SENSITIVE, &no, sizeof(no)},
      {CKA_EXTRACTABLE, &yes, sizeof(yes)}};
};

Result<SecretBytes> Unwrap(const TokenSession& token, CK_OBJECT_HANDLE wrapping_key,
                           const SealedRootKey& sealed, std::string_view what) {
  RootKeyTemplate root;
  CK_MECHANISM mechanism{CKM_AES_KEY_WRAP, nullptr, 0};
  CK_OBJECT_HANDLE handle = 0;
  CK_RV rv = token.functions()->C_UnwrapKey(
      token.session(), &mechanism, wrapping_key, const_cast<uint8_t*>(sealed.wrapped.data()),
      sealed.wrapped.size(), root.attributes.data(), root.attributes.size(), &handle);
  // RFC 3394's integrity check failed: the spec's codes, and CKR_GENERAL_ERROR, which SoftHSM2
  // returns for it.
  if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
      rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
      rv == CKR_GENERAL_ERROR) {
    return Bad("the sealed root key in " + std::string(what) + " does not unwrap with key " +
               Quoted(sealed.key_label) + " on token " + Quoted(sealed.token_label) + " (" +
               ReturnValueName(rv) + "): it was sealed by another key or altered; seal this "
               "node's root key again with seal-k0");
  }
  if (rv != CKR_OK) return token.Failed("C_UnwrapKey", rv);
  SessionObject object(token, handle);
  SecretBytes k0(kWrappedRootKeySize);  // room for more than a key: a longer one is refused
  CK_ATTRIBUTE value{CKA_VALUE, k0.data(), k0.size()};
  rv = token.functions()->C_GetAttributeValue(token.session(), object.get(), &value, 1);
  if (rv != CKR_OK) {
    return Bad("the token " + Quoted(sealed.token_label) + " does not let the unwrapped root key "
               "be read (" + ReturnValueName(rv) + "): allow unwrapping to an extractable "
               "session key (docs/hsm.md)");
  }
  if (value.ulValueLen != 32) {
    return Bad("the sealed root key in " + std::string(what) + " unwraps to " +
               std::to_string(value.ulValueLen) + " bytes, not 32: it is not a sealed root key");
  }
  k0.resize(value.ulValueLen);
  return k0;
}

}  // namespace

std::string ReturnValueName(unsigned long rv) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE: return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_KEY_NOT_WRAPPABLE: return "CKR_KEY_NOT_WRAPPABLE";
    case CKR_KEY_UNEXTRACTABLE: return "CKR_KEY_UNEXTRACTABLE";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_WRAPPED_KEY_INVALID: return "CKR_WRAPPED_KEY_INVALID";
    case CKR_WRAPPED_KEY_LEN_RANGE: return "CKR_WRAPPED_KEY_LEN_RANGE";
    case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: return "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT";
    case CKR_WRAPPING_KEY_TYPE_INCONSISTENT: return "CKR_WRAPPING_KEY_TYPE_INCONSISTENT";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: break;
  }
  char hex[32];
  std::snprintf(hex, sizeof(hex), "CKR 0x%lX", rv);
  return hex;
}

Result<SecretBytes> UnsealRootKey(const TokenAccess& access, const SealedRootKey& sealed,
                                  std::string_view what) {
  UDMG_ASSIGN_OR_RETURN(auto token, TokenSession::Open(access, sealed.token_label));
  UDMG_RETURN_IF_ERROR(token->CheckMechanism(CKF_UNWRAP));
  UDMG_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, token->FindKey(sealed.key_label, CKA_UNWRAP));
  return Unwrap(*token, key, sealed, what);
}

Result<SealedRootKey> SealRootKey(const TokenAccess& access, std::span<const uint8_t> k0,
                                  const std::string& token_label, const std::string& key_label) {
  UDMG_ASSIGN_OR_RETURN(auto token, TokenSession::Open(access, token_label));
  UDMG_RETURN_IF_ERROR(token->CheckMechanism(CKF_WRAP));
  UDMG_RETURN_IF_ERROR(token->CheckMechanism(CKF_UNWRAP));
  UDMG_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, token->FindKey(key_label, CKA_WRAP));
  UDMG_RETURN_IF_ERROR(token->FindKey(key_label, CKA_UNWRAP).status());

  RootKeyTemplate root;
  root.attributes.push_back({CKA_VALUE, const_cast<uint8_t*>(k0.data()), k0.size()});
  CK_OBJECT_HANDLE handle = 0;
  CK_RV rv = token->functions()->C_CreateObject(token->session(), root.attributes.data(),
                                                root.attributes.size(), &handle);
  if (rv != CKR_OK) return token->Failed("C_CreateObject", rv);
  SealedRootKey sealed;
  sealed.token_label = token_label;
  sealed.key_label = key_label;
  {
    SessionObject object(*token, handle);
    CK_MECHANISM mechanism{CKM_AES_KEY_WRAP, nullptr, 0};
    CK_ULONG size = kWrappedRootKeySize;
    sealed.wrapped.resize(size);
    rv = token->functions()->C_WrapKey(token->session(), &mechanism, key, object.get(),
                                       sealed.wrapped.data(), &size);
    if (rv != CKR_OK) return token->Failed("C_WrapKey", rv);
    sealed.wrapped.resize(size);
  }
  // Read back before anyone relies on it: a sealed key that does not open is worse than none.
  UDMG_ASSIGN_OR_RETURN(SecretBytes again, Unwrap(*token, key, sealed, "the new sealed key"));
  if (!SafeEquals(again, k0)) {
    return token->Failed("C_WrapKey (the sealed key does not unwrap to the root key)",
                         CKR_GENERAL_ERROR);
  }
  return sealed;
}

Result<WrappingKeyFacts> DescribeWrappingKey(const TokenAccess& access,
                                             const std::string& token_label,
                                             const std::string& key_label) {
  UDMG_ASSIGN_OR_RETURN(auto token, TokenSession::Open(access, token_label));
  UDMG_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, token->FindKey(key_label, 0));
  WrappingKeyFacts facts;
  facts.module_description = token->Describe();
  CK_BBOOL extractable = CK_TRUE;
  CK_BBOOL sensitive = CK_FALSE;
  CK_ATTRIBUTE flags[] = {{CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
                          {CKA_SENSITIVE, &sensitive, sizeof(sensitive)}};
  CK_RV rv = token->functions()->C_GetAttributeValue(token->session(), key, flags, 2);
  if (rv != CKR_OK) return token->Failed("C_GetAttributeValue", rv);
  facts.extractable = extractable == CK_TRUE;
  facts.sensitive = sensitive == CK_TRUE;
  return facts;
}

}  // namespace udmg::hsm
