// Which unfinished re-encryption job a rotation run again finishes instead of rotating again. A
// rotation with --reencrypt commits first and then runs its job; when the job is interrupted (run
// time, stop file, signal, kill -9) the operator runs the same command again, and a second
// rotation then would leave every value the job already moved stale again
// (docs/reencryption.md, "An interrupted rotation").
//
// Thread-safety: free functions on a Store the caller owns (not thread-safe).
#pragma once

#include <optional>

#include "base/status.h"
#include "db/store.h"
#include "engine/keyring.h"

namespace udmg::pipeline {

// The resumable `reencrypt` job ("running" after a crash, or "stopped") aimed at the active
// master version of `records`, if any: what `rotate-k0 --reencrypt` run again with the key it
// made current finishes.
Result<std::optional<db::JobRecord>> UnfinishedJobOnActiveVersion(db::Store& store,
                                                                  const KeyringRecords& records);

// The same job for `rotate-master-key --reencrypt` run again: only when the active master version
// was made by a rotation (not by init), so that a first rotation is never taken for a rerun.
Result<std::optional<db::JobRecord>> UnfinishedMasterRotationJob(db::Store& store,
                                                                 const KeyringRecords& records);

}  // namespace udmg::pipeline
