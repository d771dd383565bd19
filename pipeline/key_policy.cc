#include "pipeline/key_policy.h"

namespace udmg::pipeline {

Result<PolicyStanding> AssessPolicy(db::KeyringStore& store, const KeyringRecords& records,
                                    int64_t now) {
  PolicyStanding standing;
  UDMG_ASSIGN_OR_RETURN(standing.policy, store.LoadPolicy());
  UDMG_ASSIGN_OR_RETURN(standing.encryptions, store.LoadEncryptions());
  standing.master = MasterKeyDue(standing.policy, records, standing.encryptions, now);
  standing.root = RootKeyDue(standing.policy, records, now);
  return standing;
}

}  // namespace udmg::pipeline
