// How udmg-server talks to the operator: results on stdout, and on stderr exactly one line per
// error ("udmg-server: error: ..."), warning or note. Messages never contain key bytes.
#pragma once

#include <string>
#include <string_view>

#include "db/store.h"
#include "engine/status.h"

namespace udmg::cli {

// Prints "udmg-server: error: <message>" (newlines folded into spaces); returns the exit code.
int PrintError(const Error& error);
void PrintWarning(std::string_view line);  // "udmg-server: warning: <line>"
void PrintNote(std::string_view line);     // "udmg-server: note: <line>"

// "credentials.secret id=7"
std::string RowName(const db::ColumnRef& column, const db::RowKey& key);

}  // namespace udmg::cli
