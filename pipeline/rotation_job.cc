#include "pipeline/rotation_job.h"

#include "pipeline/job_state.h"
#include "pipeline/reencrypt.h"

namespace udmg::pipeline {
namespace {

// The version init makes; every later one was made by rotate-master-key.
constexpr uint32_t kFirstMasterVersion = 1;

}  // namespace

Result<std::optional<db::JobRecord>> UnfinishedJobOnActiveVersion(db::Store& store,
                                                                  const KeyringRecords& records) {
  UDMG_ASSIGN_OR_RETURN(std::optional<db::JobRecord> job,
                        store.FindLatestJobNotDone(kReencryptJobKind));
  if (job && (!IsResumableJob(*job) || job->target_version != ActiveMasterVersion(records))) {
    job.reset();
  }
  return job;
}

Result<std::optional<db::JobRecord>> UnfinishedMasterRotationJob(db::Store& store,
                                                                 const KeyringRecords& records) {
  if (ActiveMasterVersion(records) <= kFirstMasterVersion) return std::optional<db::JobRecord>();
  return UnfinishedJobOnActiveVersion(store, records);
}

}  // namespace udmg::pipeline
