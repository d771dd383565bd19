// Job rows shared by PgStore's plain jobs (postgres_jobs.cc) and shared jobs
// (postgres_ranges.cc). Internal to db/postgres.
//
// Thread-safety: uses the caller's transaction; not thread-safe, like its connection.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "db/store.h"

namespace udmg::db::postgres {

// Inserts a 'running' udmg_jobs row of `kind` aimed at `target_version` and one udmg_job_columns
// row per column (position = index) in `transaction`, with its "job-start" audit entry sealed by
// `signer` (`describe`: ReadKeyringRows); returns the job id. The columns must have passed
// ValidateColumnRef. Throws what pqxx throws (the caller's PgConnection::Run catches it).
Result<int64_t> InsertJobRows(pqxx::transaction_base& transaction, const AuditSigner& signer,
                              const std::string& describe, std::string_view kind,
                              uint32_t target_version, const std::vector<ColumnRef>& columns);

}  // namespace udmg::db::postgres
