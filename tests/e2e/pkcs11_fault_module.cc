// A PKCS#11 module for tests: every call goes to the real module named by
// UDMG_TEST_PKCS11_MODULE (SoftHSM2), except the one failure that UDMG_TEST_PKCS11_FAULT names,
// for token states SoftHSM2 cannot be put in:
//   pin-locked   C_Login answers CKR_PIN_LOCKED (SoftHSM2 never locks a PIN);
//   no-key-wrap  C_GetMechanismInfo answers CKR_MECHANISM_INVALID for CKM_AES_KEY_WRAP.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstdlib>
#include <cstring>

namespace {

CK_FUNCTION_LIST g_functions;
CK_FUNCTION_LIST* g_real = nullptr;

bool Fault(const char* name) {
  const char* fault = std::getenv("UDMG_TEST_PKCS11_FAULT");
  return fault != nullptr && std::strcmp(fault, name) == 0;
}

CK_RV Login(CK_SESSION_HANDLE session, CK_USER_TYPE user, unsigned char* pin, CK_ULONG size) {
  if (Fault("pin-locked")) return CKR_PIN_LOCKED;
  return g_real->C_Login(session, user, pin, size);
}

CK_RV GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO* info) {
  if (Fault("no-key-wrap") && type == CKM_AES_KEY_WRAP) return CKR_MECHANISM_INVALID;
  return g_real->C_GetMechanismInfo(slot, type, info);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(
    CK_FUNCTION_LIST** list) {
  const char* path = std::getenv("UDMG_TEST_PKCS11_MODULE");
  void* real = path != nullptr ? ::dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
  if (real == nullptr) return CKR_GENERAL_ERROR;
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(real, "C_GetFunctionList"));
  if (get_list == nullptr || get_list(&g_real) != CKR_OK) return CKR_GENERAL_ERROR;
  g_functions = *g_real;
  g_functions.C_Login = Login;
  g_functions.C_GetMechanismInfo = GetMechanismInfo;
  *list = &g_functions;
  return CKR_OK;
}
