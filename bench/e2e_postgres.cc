#include "bench/e2e_postgres.h"

#include <algorithm>
#include <limits>
#include <pqxx/pqxx>
#include <string_view>
#include <tuple>
#include <vector>

#include "bench/e2e_dataset.h"
#include "engine/envelope.h"
#include "engine/value_cipher.h"

namespace udmg::bench {
namespace {

// The peer's AES-256 keys (not secrets: the database is thrown away).
constexpr std::string_view kPeerOldKey =
    "\\x8f1e6c2b9a0d4e7f3c5b1a2d9e8f7c6b5a4d3e2f1c0b9a8d7e6f5c4b3a2d1e0f";
constexpr std::string_view kPeerNewKey =
    "\\x1d2c3b4a59687786a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f01f2e";
constexpr size_t kStreamChunk = 50'000;

Error DatabaseError(const std::string& what, const std::exception& e) {
  std::string message = e.what();
  if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  return Error{ErrorCode::kDatabase, what + " failed: " + message};
}

// Runs `body` on a fresh connection, turning libpqxx exceptions into a one-line Error.
template <typename T, typename Body>
Result<T> WithConnection(const std::string& url, const std::string& what, Body body) {
  try {
    pqxx::connection connection(url);
    return body(connection);
  } catch (const std::exception& e) {
    return DatabaseError(what, e);
  }
}

std::string KeyLiteral(std::string_view hex) { return "'" + std::string(hex) + "'::bytea"; }

}  // namespace

Status AddPgcryptoPeer(const std::string& url, uint64_t rows, ValueMix mix) {
  return WithConnection<bool>(url, "creating the pgcrypto peer table", [&](pqxx::connection& c) {
           {
             pqxx::nontransaction setup(c);
             setup.exec("SET client_min_messages TO warning");
             setup.exec("CREATE EXTENSION IF NOT EXISTS pgcrypto");
             setup.exec("CREATE TABLE credentials_pgcrypto (id integer PRIMARY KEY, secret bytea)");
             setup.exec("CREATE TEMPORARY TABLE bench_plaintexts (id integer, plaintext text)");
           }
           // Plaintexts go over in chunks and are encrypted by the server, as the peer would.
           for (uint64_t first = 1; first <= rows; first += kStreamChunk) {
             uint64_t last = std::min<uint64_t>(rows, first + kStreamChunk - 1);
             pqxx::work chunk(c);
             {
               pqxx::stream_to stream(chunk, "bench_plaintexts",
                                      std::vector<std::string>{"id", "plaintext"});
               for (uint64_t id = first; id <= last; ++id) {
                 stream << std::make_tuple(static_cast<int64_t>(id),
                                           BenchPlaintext(static_cast<int64_t>(id), mix));
               }
               stream.complete();
             }
             chunk.exec("INSERT INTO credentials_pgcrypto SELECT id, encrypt(convert_to(plaintext, "
                        "'UTF8'), " + KeyLiteral(kPeerOldKey) + ", 'aes') FROM bench_plaintexts");
             chunk.exec("TRUNCATE bench_plaintexts");
             chunk.commit();
           }
           return true;
         })
      .status();
}

Status VacuumDataset(const std::string& url) {
  return WithConnection<bool>(url, "vacuuming the dataset", [](pqxx::connection& c) {
           pqxx::nontransaction vacuum(c);
           vacuum.exec("VACUUM (FREEZE, ANALYZE) credentials");
           vacuum.exec("VACUUM (FREEZE, ANALYZE) credentials_pgcrypto");
           vacuum.exec("CHECKPOINT");
           return true;
         })
      .status();
}

Result<uint64_t> RunPgInDatabaseRewrite(const std::string& url) {
  return WithConnection<uint64_t>(url, "rewriting credentials in the database",
                                  [](pqxx::connection& c) -> uint64_t {
                                    pqxx::work update(c);
                                    pqxx::result r = update.exec(
                                        "UPDATE credentials SET secret = secret || ''");
                                    update.commit();
                                    return r.affected_rows();
                                  });
}

Result<uint64_t> RunPgcryptoPeer(const std::string& url) {
  return WithConnection<uint64_t>(
      url, "re-encrypting with pgcrypto", [](pqxx::connection& c) -> uint64_t {
        pqxx::work update(c);
        pqxx::result r = update.exec("UPDATE credentials_pgcrypto SET secret = encrypt(decrypt("
                                     "secret, " + KeyLiteral(kPeerOldKey) + ", 'aes'), " +
                                     KeyLiteral(kPeerNewKey) + ", 'aes')");
        update.commit();
        return r.affected_rows();
      });
}

Result<uint64_t> RunPgNaiveOneTransaction(const std::string& url) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset(url));
  ValueCipher cipher(dataset.keyring);
  const std::string prefix = EnvelopePrefix(dataset.keyring->active_version());
  Result<uint64_t> rows = WithConnection<uint64_t>(
      url, "the naive loop in one transaction", [&](pqxx::connection& c) -> Result<uint64_t> {
        c.prepare("next", "SELECT id, secret FROM credentials WHERE id > $1 AND secret IS NOT "
                          "NULL AND substr(secret, 1, " + std::to_string(prefix.size()) +
                              ") <> '" + prefix + "' ORDER BY id LIMIT 1");
        c.prepare("write", "UPDATE credentials SET secret = $1 WHERE id = $2 AND secret = $3");
        pqxx::work transaction(c);
        int64_t after = 0;  // the dataset's ids start at 1 (an integer column)
        uint64_t done = 0;
        for (;;) {
          pqxx::result next = transaction.exec_prepared("next", after);
          if (next.empty()) break;
          const int64_t id = next[0][0].as<int64_t>();
          const std::string value = next[0][1].as<std::string>();
          UDMG_ASSIGN_OR_RETURN(SecretBytes plaintext, cipher.Decrypt(value));
          UDMG_ASSIGN_OR_RETURN(std::string replacement, cipher.Encrypt(plaintext));
          transaction.exec_prepared("write", replacement, id, value);
          after = id;
          ++done;
        }
        transaction.commit();
        return done;
      });
  if (!rows.ok()) return rows;
  UDMG_RETURN_IF_ERROR(dataset.store->AddEncryptions(cipher.encryptions()).status());
  return rows;
}

Status VerifyPgcryptoPeer(const std::string& url, uint64_t expect_rows, uint64_t stride,
                          ValueMix mix) {
  return WithConnection<bool>(
             url, "verifying the pgcrypto peer table", [&](pqxx::connection& c) -> Result<bool> {
               pqxx::read_transaction read(c);
               uint64_t rows = read.exec("SELECT count(*) FROM credentials_pgcrypto")[0][0]
                                   .as<uint64_t>();
               if (rows != expect_rows) {
                 return Error{ErrorCode::kIncomplete,
                              "credentials_pgcrypto has " + std::to_string(rows) +
                                  " rows, expected " + std::to_string(expect_rows)};
               }
               pqxx::result sample = read.exec(
                   "SELECT id, convert_from(decrypt(secret, " + KeyLiteral(kPeerNewKey) +
                   ", 'aes'), 'UTF8') FROM credentials_pgcrypto WHERE id % " +
                   std::to_string(std::max<uint64_t>(1, stride)) + " = 0");
               for (const pqxx::row& row : sample) {
                 if (row[1].as<std::string>() != BenchPlaintext(row[0].as<int64_t>(), mix)) {
                   return Error{ErrorCode::kCorruptValue,
                                "credentials_pgcrypto row " + row[0].as<std::string>() +
                                    " does not hold its plaintext under the new key"};
                 }
               }
               return true;
             })
      .status();
}

}  // namespace udmg::bench
