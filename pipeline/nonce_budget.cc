#include "pipeline/nonce_budget.h"

#include <iostream>

#include "engine/value_cipher.h"

namespace udmg::pipeline {

WarningSink StderrWarningSink() {
  return [](std::string_view line, std::string_view) { std::cerr << "udmg: warning: " << line << '\n'; };
}

std::string NonceBudgetWarning(uint32_t version, uint64_t count) {
  return "master key version " + std::to_string(version) + " has made " + std::to_string(count) +
         " encryptions, past 2^31 of its 2^32 random-nonce budget: run `udmg-server "
         "rotate-master-key` soon";
}

Status RecordEncryptions(db::Store& store, const std::map<uint32_t, uint64_t>& made,
                         const WarningSink& warn) {
  if (made.empty()) return Status::Ok();
  UDMG_ASSIGN_OR_RETURN(auto totals, store.AddEncryptions(made));
  for (const auto& [version, unused] : made) {
    auto it = totals.find(version);
    if (it != totals.end() && it->second >= kNonceWarnEncryptions && warn) {
      warn(NonceBudgetWarning(version, it->second), {});
    }
  }
  return Status::Ok();
}

}  // namespace udmg::pipeline
