// Job rows shared by SqliteStore's plain jobs (sqlite_jobs.cc) and shared jobs
// (sqlite_ranges.cc). Internal to db/sqlite.
//
// Thread-safety: uses the caller's connection; not thread-safe, like the connection.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "db/sqlite/sqlite_connection.h"
#include "db/store.h"

namespace udmg::db::sqlite {

// Inserts a 'running' udmg_jobs row of `kind` aimed at `target_version` and one udmg_job_columns
// row per column (position = index), inside the caller's write transaction; returns the job id.
// The columns must have passed ValidateColumnRef. `what` names the operation in errors.
Result<int64_t> InsertJobRows(Connection& connection, std::string_view kind,
                              uint32_t target_version, const std::vector<ColumnRef>& columns,
                              std::string_view what);

}  // namespace udmg::db::sqlite
