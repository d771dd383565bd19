#include "pipeline/verify.h"

#include <memory>

#include "engine/envelope.h"
#include "engine/value_cipher.h"
#include "pipeline/job_state.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {

uint64_t ColumnVerification::ok() const {
  uint64_t total = 0;
  for (const auto& [version, count] : ok_by_version) total += count;
  return total;
}

uint64_t ColumnVerification::failed() const {
  uint64_t total = 0;
  for (const auto& [version, failures] : failed_by_version) total += failures.count;
  return total;
}

uint64_t VerifyReport::ok() const {
  uint64_t total = 0;
  for (const auto& column : columns) total += column.ok();
  return total;
}

uint64_t VerifyReport::failed() const {
  uint64_t total = 0;
  for (const auto& column : columns) total += column.failed();
  return total;
}

uint64_t VerifyReport::unaddressable() const {
  uint64_t total = 0;
  for (const auto& column : columns) total += column.unaddressable;
  return total;
}

uint64_t VerifyReport::plaintext() const {
  uint64_t total = 0;
  for (const auto& column : columns) total += column.plaintext;
  return total;
}

namespace {

// `plaintext` is one buffer reused for every value: key buffers may come from OpenSSL's secure
// heap, which takes a global lock per allocation (docs/process-hygiene.md).
void CheckValue(ValueCipher& cipher, const VerifyOptions& options, const db::ColumnRef& column,
                const db::StoredValue& row, SecretBytes& plaintext, ColumnVerification& result) {
  const std::string& value = *row.value;
  if (!LooksEncrypted(value)) {
    ++result.plaintext;
    return;
  }
  uint32_t version = EnvelopeVersionOrZero(value);
  const std::string key_text = db::RowKeyText(row.key);
  const ValueLocation location = LocationOf(column, key_text);
  Status decrypted = cipher.DecryptInto(value, plaintext, &location);
  if (decrypted.ok()) {
    ++result.ok_by_version[version];
    return;
  }
  VersionFailures& failures = result.failed_by_version[version];
  ++failures.count;
  ++failures.by_class[std::string(
      DecryptErrorClass(decrypted.error().code, value, location, cipher.keyring().records()))];
  if (failures.example_keys.size() < options.max_examples) failures.example_keys.push_back(row.key);
}

}  // namespace

Result<VerifyReport> Verify(SecretsClient& client, const VerifyOptions& options) {
  if (options.batch_size == 0) {
    return Error{ErrorCode::kBadInput, "verify batch size must be at least 1"};
  }
  // Verify against the newest keyring, so values under a just-created version are readable.
  UDMG_RETURN_IF_ERROR(client.RefreshKeyring());
  ValueCipher cipher(client.shared_keyring());
  UDMG_ASSIGN_OR_RETURN(auto columns, client.store().ListColumns());
  UDMG_RETURN_IF_ERROR(RequireColumnsExist(client.store(), columns));
  // "Every value decrypts" over the rows the role happens to see would vouch for rows unseen.
  UDMG_RETURN_IF_ERROR(db::RequireEveryRowVisible(client.store(), columns, "nothing was verified"));
  VerifyReport report;
  SecretBytes plaintext;
  for (const db::ColumnRef& column : columns) {
    ColumnVerification& result = report.columns.emplace_back();
    result.column = column;
    // The key-ordered scan below never meets rows whose key is NULL: count them apart.
    UDMG_ASSIGN_OR_RETURN(result.unaddressable,
                          client.store().CountUnaddressable(column, nullptr));
    std::optional<db::RowKey> after;
    while (true) {
      UDMG_ASSIGN_OR_RETURN(auto rows,
                            client.store().FetchValues(column, after, options.batch_size));
      for (const db::StoredValue& row : rows) {
        if (row.value) CheckValue(cipher, options, column, row, plaintext, result);
      }
      if (rows.size() < options.batch_size) break;
      after = rows.back().key;
    }
  }
  return report;
}

}  // namespace udmg::pipeline
