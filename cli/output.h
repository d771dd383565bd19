// How udmg-server talks to the operator: results on stdout, and on stderr exactly one line per
// error ("udmg-server: error: ..."), warning, note or notice. Messages never contain key bytes.
// With --log-format json each stderr line is one JSON object instead (docs/json.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "db/store.h"

namespace udmg::cli {

enum class LogFormat { kText, kJson };
// Set once, before anything is printed (from --log-format).
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();
// The job this process runs: JSON log lines name it from then on.
void SetLogJobId(int64_t job_id);

// Prints "udmg-server: error: <message>" (newlines folded into spaces, the setting it names as its
// flag: cli/setting_flags.h); returns the exit code.
int PrintError(const Error& error);
// "udmg-server: warning: <line>"; `setting` as in Error::setting.
void PrintWarning(std::string_view line, std::string_view setting = {});
void PrintNote(std::string_view line);     // "udmg-server: note: <line>"
// A line another program reads as it is, e.g. "metrics: listening on URL"; level "info" in JSON.
void PrintNotice(std::string_view line);

// "credentials.secret id=7"
std::string RowName(const db::ColumnRef& column, const db::RowKey& key);

}  // namespace udmg::cli
