// verify: decrypts every registered value (keyset pagination over FetchValues) and reports, per
// column and per master version, how many decrypt and how many fail (by error class, with a few
// example keys). Legacy plaintext is counted, not a failure. Reads only: nothing is written.
//
// Thread-safety: runs on the calling thread with the client's store; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "db/store.h"
#include "pipeline/secrets.h"

namespace udmg::pipeline {

struct VerifyOptions {
  size_t batch_size = 1000;
  size_t max_examples = 10;  // example keys kept per column and version
};

struct VersionFailures {
  uint64_t count = 0;
  std::map<std::string, uint64_t> by_class;  // "malformed", "unknown_version", "decryption_failed"
  std::vector<db::RowKey> example_keys;      // the first max_examples, in key order
};

struct ColumnVerification {
  db::ColumnRef column;
  std::map<uint32_t, uint64_t> ok_by_version;
  std::map<uint32_t, VersionFailures> failed_by_version;  // version 0: malformed envelopes
  uint64_t plaintext = 0;
  uint64_t unaddressable = 0;  // values in rows whose key is NULL: not checked, and a failure
  uint64_t ok() const;
  uint64_t failed() const;
};

struct VerifyReport {
  std::vector<ColumnVerification> columns;
  uint64_t ok() const;
  uint64_t failed() const;
  uint64_t plaintext() const;
  uint64_t unaddressable() const;
};

// Database errors and a K0 that is not current end it with that error. Failures to decrypt are in
// the report (callers exit kCorruptValue when report.failed() > 0). kBadInput for batch_size 0.
Result<VerifyReport> Verify(SecretsClient& client, const VerifyOptions& options);

}  // namespace udmg::pipeline
