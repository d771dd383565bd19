// The demo table credentials(id integer primary key, name text, secret text): the application
// table of `udmg-server demo`, and of the tests and benchmarks that need application rows. Apart
// from the storage interfaces (db/store.h): udmg-server reads and writes an application table
// only through its registered columns.
//
// Thread-safety: one DemoTable is one database connection; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace udmg::db {

struct DemoRow {
  int64_t id = 0;
  std::string name;
  std::string secret;
};

class DemoTable {
 public:
  virtual ~DemoTable() = default;
  // Creates the table if missing.
  virtual Status Create() = 0;
  // Inserts `rows` in one transaction: none of them when one fails (a duplicate id).
  virtual Status Insert(std::span<const DemoRow> rows) = 0;
};

// A connection of its own to the database at `url` (as OpenStore reads it), which udmg-server
// has set up (OpenMode::kExisting).
Result<std::unique_ptr<DemoTable>> OpenDemoTable(std::string_view url);

}  // namespace udmg::db
