// Fernet tokens (engine/fernet.h) under the Fernet spec's key (../shared/testdata/fernet), so the
// spec's tokens are seeds. A token that verifies is the one EncryptAt makes again from its
// plaintext, timestamp and IV (one token, one text); DecryptAt with the spec's clock and TTL
// accepts only tokens Decrypt accepts, with the same plaintext; every refusal reads the same.
// The input as a plaintext: Encrypt then Decrypt gives it back.
#include <algorithm>

#include "engine/encoding.h"
#include "engine/fernet.h"
#include "fuzz/fuzz_check.h"

using namespace udmg;

namespace {

constexpr std::string_view kSpecKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
constexpr uint64_t kSpecNow = 499162801;  // 1985-10-26T01:20:01-07:00, the spec's "now"
constexpr uint64_t kSpecTtl = 60;

const Fernet& SpecFernet() {
  static const Fernet* fernet = new Fernet(*Fernet::Create(*Base64UrlDecode(kSpecKey)));
  return *fernet;
}

bool SameBytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void CheckRefusal(const Error& error) {
  FUZZ_CHECK(error.code == ErrorCode::kCorruptValue && error.message == "Fernet token does not verify",
             "a refusal that does not read the same as the others");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token = fuzz::InputText(data, size);
  Result<SecretBytes> plaintext = SpecFernet().Decrypt(token);
  Result<SecretBytes> timed = SpecFernet().DecryptAt(token, kSpecNow, kSpecTtl);
  if (!timed.ok()) CheckRefusal(timed.error());
  if (!plaintext.ok()) {
    CheckRefusal(plaintext.error());
    FUZZ_CHECK(!timed.ok(), "DecryptAt accepts a token Decrypt refuses");
  } else {
    if (timed.ok()) FUZZ_CHECK(SameBytes(*timed, *plaintext), "DecryptAt and Decrypt disagree");
    const std::vector<uint8_t> raw = *Base64UrlDecode(token);
    uint64_t timestamp = 0;
    for (size_t i = 1; i <= 8; ++i) timestamp = (timestamp << 8) | raw[i];
    const std::span<const uint8_t, 16> iv(raw.data() + 9, 16);
    FUZZ_CHECK(SpecFernet().EncryptAt(*plaintext, timestamp, iv) == token,
               "a token that verifies is not the token of its plaintext, timestamp and IV");
  }
  const std::string fresh = SpecFernet().Encrypt({data, size});
  Result<SecretBytes> back = SpecFernet().Decrypt(fresh);
  FUZZ_CHECK(back.ok() && SameBytes(*back, {data, size}), "Encrypt then Decrypt changed the input");
  return 0;
}
