// Store jobs on every backend: create/load, checkpoints (typed keys, counts, scanned), states,
// resumable lookup, and recorded failures.
#include "engine/audit_chain.h"
#include "engine/keyring.h"
#include "engine/root_key.h"
#include "tests/db/store_test_support.h"

namespace udmg::db::testing {
namespace {

using StoreJobsTest = StoreTest;

const ColumnRef kSecrets{"credentials", "secret", "id"};
const ColumnRef kTokens{"tokens", "value", "name"};

TEST_P(StoreJobsTest, CreateAndLoad) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 3, {kSecrets, kTokens}));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, OpenAnother()->LoadJob(id));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->id, id);
  EXPECT_EQ(job->kind, "reencrypt");
  EXPECT_EQ(job->state, db::JobState::kRunning);
  EXPECT_EQ(job->target_version, 3u);
  EXPECT_GT(job->created_at, 0);
  EXPECT_EQ(job->updated_at, job->created_at);
  ASSERT_EQ(job->columns.size(), 2u);
  EXPECT_EQ(job->columns[0].column, kSecrets);
  EXPECT_EQ(job->columns[1].column, kTokens);
  for (const JobColumnProgress& progress : job->columns) {
    EXPECT_FALSE(progress.checkpoint.has_value());
    EXPECT_EQ(progress.migrated + progress.conflicts + progress.failed, 0u);
    EXPECT_FALSE(progress.scanned);
  }
  ASSERT_OK_AND_ASSIGN(job, store_->LoadJob(id + 100));
  EXPECT_FALSE(job.has_value());
}

// A job's state changes are audit entries, sealed by its process's K0. Once another process
// rotated that K0 away, the job still stops (else it stays "running" and blocks restore and
// prune): its entry is kept unsealed and says why, and the trail still verifies.
TEST_P(StoreJobsTest, AJobWhoseRootKeyWasRotatedAwayRecordsItsStopUnsealed) {
  const SecretBytes old_k0 = RandomSecret(32), new_k0 = RandomSecret(32);
  KeyringRecords records = NewKeyringRecords(old_k0, RandomSecret(32), 1000);
  auto store = [&](const KeyringRecords& next) {
    return store_->UpdateKeyring(
        [&](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> { return next; });
  };
  auto sign = [&](const SecretBytes& k0) {
    store_->SetAuditSigner(AuditSigner{"gw-1", "ops", 42, "udmg-server reencrypt",
                                       RootKeyFingerprint(k0), DeriveAuditKey(k0)});
  };
  sign(old_k0);
  ASSERT_OK(store(records));
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 1, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(records, RotateRootKey(records, old_k0, new_k0, 2000));
  ASSERT_OK(store(records));  // rotate-k0's entry, sealed by the version it retires
  ASSERT_OK(store_->SetJobState(id, JobState::kStopped));
  ASSERT_OK(store_->SetJobState(id, JobState::kStopped));  // no change, no entry

  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> entries, store_->ListAudit());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[1].event, "job-start");
  EXPECT_EQ(entries[1].outcome, "ok");
  EXPECT_EQ(entries[1].detail, "job " + std::to_string(id) + " (reencrypt) to master version 1");
  EXPECT_EQ(entries[1].key_version, 1u);
  EXPECT_EQ(entries[3].event, "job-stop");
  EXPECT_EQ(entries[3].outcome, "unsealed: ok; made with a root key that is no longer current");
  EXPECT_EQ(entries[3].key_version, 0u);
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, store_->LoadJob(id));
  EXPECT_EQ(job->state, JobState::kStopped);

  sign(new_k0);
  ASSERT_OK(store_->SetJobState(id, JobState::kFailed));  // sealed again, by version 2
  ASSERT_OK_AND_ASSIGN(entries, store_->ListAudit());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[4].event, "job-end");
  EXPECT_EQ(entries[4].outcome, "failed");
  EXPECT_EQ(entries[4].key_version, 2u);
  AuditVerdict verdict = VerifyAuditChain(entries, [&](uint32_t version) {
    return std::optional<SecretBytes>(DeriveAuditKey(version == 1 ? old_k0 : new_k0));
  });
  EXPECT_FALSE(verdict.first_break.has_value()) << verdict.why;
  EXPECT_EQ(verdict.unsealed, 0u);
}

// A refusal is appended on its own, sealed when the signer's K0 is current, unsealed otherwise;
// nothing before `init`.
TEST_P(StoreJobsTest, ARefusalIsAppendedInATransactionOfItsOwn) {
  const SecretBytes k0 = RandomSecret(32);
  ASSERT_OK(store_->AppendRefusal("conflict", "job 1 (reencrypt) is running"));
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> entries, store_->ListAudit());
  EXPECT_TRUE(entries.empty());
  store_->SetAuditSigner(AuditSigner{"gw-1", "ops", 42, "udmg-server prune-keys",
                                     RootKeyFingerprint(k0), DeriveAuditKey(k0)});
  ASSERT_OK(
      store_->UpdateKeyring([&](const std::optional<KeyringRecords>&) -> Result<KeyringRecords> {
        return NewKeyringRecords(k0, RandomSecret(32), 1000);
      }));
  ASSERT_OK(store_->AppendRefusal("conflict", "job 1 (reencrypt) is running"));
  store_->SetAuditSigner(AuditSigner{"gw-2", "ops", 43, "udmg-server status", "", {}});
  ASSERT_OK(store_->AppendRefusal("root-key", "K0 matches no root key version"));
  ASSERT_OK_AND_ASSIGN(entries, store_->ListAudit());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].event, "conflict");
  EXPECT_EQ(entries[1].outcome, "refused: job 1 (reencrypt) is running");
  EXPECT_EQ(entries[1].key_version, 1u);
  EXPECT_EQ(entries[1].root_before, 1u);
  EXPECT_EQ(entries[1].master_after, 1u);
  EXPECT_EQ(entries[2].node, "gw-2");
  EXPECT_EQ(entries[2].key_version, 0u);
  AuditVerdict verdict = VerifyAuditChain(
      entries, [&](uint32_t) { return std::optional<SecretBytes>(DeriveAuditKey(k0)); });
  EXPECT_FALSE(verdict.first_break.has_value()) << verdict.why;
  EXPECT_EQ(verdict.unsealed, 1u);
}

TEST_P(StoreJobsTest, CheckpointsKeepTheirTypeAndCountsAccumulate) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 2, {kSecrets, kTokens}));
  ASSERT_OK(store_->SaveCheckpoint(id, kSecrets, RowKey(int64_t{42}), 10, 1, 2, false));
  ASSERT_OK(store_->SaveCheckpoint(id, kTokens, RowKey(std::string("42")), 5, 0, 0, false));
  ASSERT_OK(store_->SaveCheckpoint(id, kSecrets, RowKey(int64_t{-7000000000}), 3, 0, 1, true));
  // No new position and scanned=false: the checkpoint and "scanned" stay as they were.
  ASSERT_OK(store_->SaveCheckpoint(id, kSecrets, std::nullopt, 1, 0, 0, false));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, store_->LoadJob(id));
  ASSERT_TRUE(job.has_value());
  const JobColumnProgress& secrets = job->columns[0];
  EXPECT_EQ(secrets.checkpoint, RowKey(int64_t{-7000000000}));
  EXPECT_EQ(secrets.migrated, 14u);
  EXPECT_EQ(secrets.conflicts, 1u);
  EXPECT_EQ(secrets.failed, 3u);
  EXPECT_TRUE(secrets.scanned);
  const JobColumnProgress& tokens = job->columns[1];
  EXPECT_EQ(tokens.checkpoint, RowKey(std::string("42")));
  EXPECT_EQ(tokens.migrated, 5u);
  EXPECT_FALSE(tokens.scanned);
}

TEST_P(StoreJobsTest, CheckpointOfAnUnknownJobOrColumnIsNotFound) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 2, {kSecrets}));
  std::string before = database_->Dump();
  EXPECT_STATUS(store_->SaveCheckpoint(id, kTokens, RowKey(int64_t{1}), 1, 0, 0, false), kNotFound,
                "tokens.value");
  EXPECT_STATUS(store_->SaveCheckpoint(id + 1, kSecrets, RowKey(int64_t{1}), 1, 0, 0, false),
                kNotFound, "job");
  EXPECT_EQ(database_->Dump(), before);
}

TEST_P(StoreJobsTest, StatesAndTheUnfinishedJobToResume) {
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> found, store_->FindLatestJobNotDone("reencrypt"));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(int64_t first, store_->CreateJob("reencrypt", 2, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t second, store_->CreateJob("reencrypt", 3, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t sweep, store_->CreateJob("sweep", 3, {kSecrets}));
  EXPECT_LT(first, second);

  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestJobNotDone("reencrypt"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, second);
  ASSERT_OK(store_->SetJobState(second, db::JobState::kStopped));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestJobNotDone("reencrypt"));
  EXPECT_EQ(found->id, second);
  EXPECT_EQ(found->state, db::JobState::kStopped);
  ASSERT_OK(store_->SetJobState(second, db::JobState::kDone));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestJobNotDone("reencrypt"));
  EXPECT_EQ(found->id, first);
  ASSERT_OK(store_->SetJobState(first, db::JobState::kDone));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestJobNotDone("reencrypt"));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestJobNotDone("sweep"));
  EXPECT_EQ(found->id, sweep);

  EXPECT_STATUS(store_->SetJobState(sweep + 100, db::JobState::kDone), kNotFound, "does not exist");
}

TEST(JobStateTest, NamesRoundTripAndAnEditedNameIsADatabaseError) {
  for (JobState state :
       {JobState::kRunning, JobState::kStopped, JobState::kFailed, JobState::kDone}) {
    ASSERT_OK_AND_ASSIGN(JobState parsed, ParseJobState(JobStateName(state)));
    EXPECT_EQ(parsed, state);
  }
  EXPECT_STATUS(ParseJobState("paused").status(), kDatabase, "edited by hand");
}

TEST_P(StoreJobsTest, LatestFinishedJobIsTheNewestDoneOrFailed) {
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> found, store_->FindLatestFinishedJob("reencrypt"));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(int64_t first, store_->CreateJob("reencrypt", 2, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t second, store_->CreateJob("reencrypt", 3, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t third, store_->CreateJob("reencrypt", 3, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(int64_t sweep, store_->CreateJob("sweep", 3, {kSecrets}));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestFinishedJob("reencrypt"));
  EXPECT_FALSE(found.has_value());  // running and stopped jobs have not finished

  ASSERT_OK(store_->SetJobState(first, db::JobState::kDone));
  ASSERT_OK(store_->SetJobState(third, db::JobState::kStopped));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestFinishedJob("reencrypt"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, first);
  EXPECT_EQ(found->state, db::JobState::kDone);
  ASSERT_EQ(found->columns.size(), 1u);
  EXPECT_EQ(found->columns[0].column, kSecrets);

  ASSERT_OK(store_->SetJobState(second, db::JobState::kFailed));
  ASSERT_OK(store_->SetJobState(sweep, db::JobState::kDone));
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestFinishedJob("reencrypt"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, second);
  EXPECT_EQ(found->state, db::JobState::kFailed);
  ASSERT_OK_AND_ASSIGN(found, store_->FindLatestFinishedJob("sweep"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, sweep);
}

TEST_P(StoreJobsTest, FailuresAreRecordedOncePerRow) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateJob("reencrypt", 2, {kSecrets, kTokens}));
  ASSERT_OK_AND_ASSIGN(int64_t other, store_->CreateJob("reencrypt", 2, {kSecrets}));
  ASSERT_OK(store_->RecordFailure({id, kSecrets, RowKey(int64_t{5}), 1, "decryption_failed", 100}));
  ASSERT_OK(store_->RecordFailure({id, kTokens, RowKey(std::string("5")), 0, "malformed", 101}));
  ASSERT_OK(store_->RecordFailure({other, kSecrets, RowKey(int64_t{5}), 1, "unknown_version", 0}));
  // The same row again (a resumed job): one record, updated.
  ASSERT_OK(store_->RecordFailure({id, kSecrets, RowKey(int64_t{5}), 1, "unknown_version", 102}));

  ASSERT_OK_AND_ASSIGN(std::vector<FailureRecord> failures, store_->ListFailures(id));
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].job_id, id);
  EXPECT_EQ(failures[0].column, kSecrets);
  EXPECT_EQ(failures[0].key, RowKey(int64_t{5}));
  EXPECT_EQ(failures[0].version, 1u);
  EXPECT_EQ(failures[0].error_class, "unknown_version");
  EXPECT_EQ(failures[0].recorded_at, 102);
  EXPECT_EQ(failures[1].column, kTokens);
  EXPECT_EQ(failures[1].key, RowKey(std::string("5")));
  EXPECT_EQ(failures[1].error_class, "malformed");

  ASSERT_OK_AND_ASSIGN(failures, store_->ListFailures(other));
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_GT(failures[0].recorded_at, 0);  // 0 means "now"
  ASSERT_OK_AND_ASSIGN(failures, store_->ListFailures(other + 1));
  EXPECT_TRUE(failures.empty());
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(StoreJobsTest);

}  // namespace
}  // namespace udmg::db::testing
