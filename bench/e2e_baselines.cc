#include "bench/e2e_baselines.h"

#include <sqlite3.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_handle.h"
#include "bench/e2e_dataset.h"
#include "engine/envelope.h"
#include "engine/value_cipher.h"

namespace udmg::bench {
namespace {

using SqliteDb = UniqueHandle<sqlite3, sqlite3_close>;
using SqliteStatement = UniqueHandle<sqlite3_stmt, sqlite3_finalize>;

Error SqliteError(sqlite3* db, const std::string& what) {
  return Error{ErrorCode::kDatabase, what + ": " + sqlite3_errmsg(db)};
}

Result<SqliteDb> OpenRaw(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, "cannot open " + path);
  // As the library's connections (db/sqlite): WAL, synchronous=NORMAL.
  if (sqlite3_exec(db.get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr,
                   nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(db.get(), "cannot set the pragmas");
  }
  return db;
}

Result<SqliteStatement> Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return SqliteError(db, "cannot prepare " + sql);
  }
  return SqliteStatement(raw);
}

Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(db, std::string("cannot run ") + sql);
  }
  return Status::Ok();
}

std::string_view ColumnText(sqlite3_stmt* statement, int column) {
  auto text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  return {text, static_cast<size_t>(sqlite3_column_bytes(statement, column))};
}

}  // namespace

Result<uint64_t> RunNaiveRowByRow(const std::string& url) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset(url));
  ValueCipher cipher(dataset.keyring);
  const db::StaleFilter filter{.target_version = dataset.keyring->active_version()};
  std::optional<db::RowKey> after;
  uint64_t rows = 0;
  while (true) {
    UDMG_ASSIGN_OR_RETURN(std::vector<db::StoredValue> next,
                          dataset.store->FetchStale(kBenchColumn, filter, after, 1));
    if (next.empty()) break;
    const db::StoredValue& row = next.front();
    UDMG_ASSIGN_OR_RETURN(SecretBytes plaintext, cipher.Decrypt(*row.value));
    UDMG_ASSIGN_OR_RETURN(std::string replacement, cipher.Encrypt(plaintext));
    db::CasWrite write{row.key, *row.value, std::move(replacement)};
    UDMG_ASSIGN_OR_RETURN(std::vector<bool> applied,
                          dataset.store->CompareAndSwap(kBenchColumn, {&write, 1}));
    after = row.key;
    ++rows;
  }
  UDMG_RETURN_IF_ERROR(dataset.store->AddEncryptions(cipher.encryptions()).status());
  return rows;
}

Result<uint64_t> RunNaiveOneTransaction(const std::string& sqlite_path) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset("sqlite:" + sqlite_path));
  ValueCipher cipher(dataset.keyring);
  UDMG_ASSIGN_OR_RETURN(SqliteDb db, OpenRaw(sqlite_path));
  const std::string prefix = EnvelopePrefix(dataset.keyring->active_version());
  UDMG_ASSIGN_OR_RETURN(
      SqliteStatement select,
      Prepare(db.get(), "SELECT id, secret FROM credentials WHERE id > ?1 AND secret IS NOT NULL "
                        "AND substr(secret, 1, " + std::to_string(prefix.size()) + ") <> '" +
                            prefix + "' ORDER BY id LIMIT 1"));
  UDMG_ASSIGN_OR_RETURN(
      SqliteStatement update,
      Prepare(db.get(), "UPDATE credentials SET secret = ?1 WHERE id = ?2 AND secret = ?3"));
  UDMG_RETURN_IF_ERROR(Exec(db.get(), "BEGIN IMMEDIATE"));
  int64_t after = std::numeric_limits<int64_t>::min();
  uint64_t rows = 0;
  while (true) {
    sqlite3_reset(select.get());
    sqlite3_bind_int64(select.get(), 1, after);
    int rc = sqlite3_step(select.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqliteError(db.get(), "reading the next row");
    const int64_t id = sqlite3_column_int64(select.get(), 0);
    const std::string value(ColumnText(select.get(), 1));
    UDMG_ASSIGN_OR_RETURN(SecretBytes plaintext, cipher.Decrypt(value));
    UDMG_ASSIGN_OR_RETURN(std::string replacement, cipher.Encrypt(plaintext));
    sqlite3_reset(update.get());
    sqlite3_bind_text(update.get(), 1, replacement.data(), static_cast<int>(replacement.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(update.get(), 2, id);
    sqlite3_bind_text(update.get(), 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    if (sqlite3_step(update.get()) != SQLITE_DONE) return SqliteError(db.get(), "writing a row");
    after = id;
    ++rows;
  }
  UDMG_RETURN_IF_ERROR(Exec(db.get(), "COMMIT"));
  UDMG_RETURN_IF_ERROR(dataset.store->AddEncryptions(cipher.encryptions()).status());
  return rows;
}

Result<uint64_t> RunRewriteNoCrypto(const std::string& url, size_t batch_size) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset(url));
  const db::StaleFilter filter{.target_version = dataset.keyring->active_version()};
  std::optional<db::RowKey> after;
  std::vector<db::CasWrite> writes;
  uint64_t rows = 0;
  while (true) {
    UDMG_ASSIGN_OR_RETURN(std::vector<db::StoredValue> page,
                          dataset.store->FetchStale(kBenchColumn, filter, after, batch_size));
    if (page.empty()) break;
    writes.clear();
    for (db::StoredValue& row : page) {
      writes.push_back({row.key, *row.value, *row.value});  // written back unchanged
    }
    UDMG_ASSIGN_OR_RETURN(std::vector<bool> applied,
                          dataset.store->CompareAndSwap(kBenchColumn, writes));
    after = page.back().key;
    rows += page.size();
  }
  return rows;
}

Result<uint64_t> RunRawRewriteNoCrypto(const std::string& sqlite_path, size_t batch_size,
                                       bool change_bytes) {
  UDMG_ASSIGN_OR_RETURN(SqliteDb db, OpenRaw(sqlite_path));
  UDMG_ASSIGN_OR_RETURN(
      SqliteStatement select,
      Prepare(db.get(), "SELECT id, secret FROM credentials WHERE id > ?1 ORDER BY id LIMIT ?2"));
  UDMG_ASSIGN_OR_RETURN(
      SqliteStatement update,
      Prepare(db.get(), "UPDATE credentials SET secret = ?1 WHERE id = ?2 AND secret = ?3"));
  std::vector<std::pair<int64_t, std::string>> page;
  std::string changed;  // floor-write's value, reused
  int64_t after = std::numeric_limits<int64_t>::min();
  uint64_t rows = 0;
  while (true) {
    page.clear();
    sqlite3_reset(select.get());
    sqlite3_bind_int64(select.get(), 1, after);
    sqlite3_bind_int64(select.get(), 2, static_cast<int64_t>(batch_size));
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      page.emplace_back(sqlite3_column_int64(select.get(), 0), ColumnText(select.get(), 1));
    }
    if (rc != SQLITE_DONE) return SqliteError(db.get(), "reading a page");
    if (page.empty()) break;
    UDMG_RETURN_IF_ERROR(Exec(db.get(), "BEGIN IMMEDIATE"));
    for (const auto& [id, value] : page) {
      // Only floor-write copies a value: the plain floor binds what it read.
      const std::string* written = &value;
      if (change_bytes && value.starts_with("udmg:v1:")) {
        changed = value;
        changed[6] = '2';
        written = &changed;
      }
      sqlite3_reset(update.get());
      sqlite3_bind_text(update.get(), 1, written->data(), static_cast<int>(written->size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(update.get(), 2, id);
      sqlite3_bind_text(update.get(), 3, value.data(), static_cast<int>(value.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(update.get()) != SQLITE_DONE) return SqliteError(db.get(), "writing a row");
    }
    UDMG_RETURN_IF_ERROR(Exec(db.get(), "COMMIT"));
    after = page.back().first;
    rows += page.size();
  }
  return rows;
}

Result<uint64_t> RunInDatabaseRewrite(const std::string& sqlite_path) {
  UDMG_ASSIGN_OR_RETURN(SqliteDb db, OpenRaw(sqlite_path));
  UDMG_RETURN_IF_ERROR(Exec(db.get(), "UPDATE credentials SET secret = secret || ''"));
  return static_cast<uint64_t>(sqlite3_changes64(db.get()));
}

}  // namespace udmg::bench
