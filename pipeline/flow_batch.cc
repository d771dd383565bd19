#include "pipeline/flow_batch.h"

#include <utility>

#include "engine/envelope.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {

namespace {

bool IsStaleFor(std::string_view value, std::string_view target_prefix, bool include_plaintext) {
  if (!LooksEncrypted(value)) return include_plaintext;
  return !value.starts_with(target_prefix);
}

}  // namespace

bool IsStale(std::string_view value, const db::ColumnRef& column, const db::StaleFilter& filter) {
  return IsStaleFor(value, db::TargetPrefix(column, filter.target_version),
                    filter.include_plaintext);
}

Status TransformBatch(ValueCipher& cipher, const db::ColumnRef& column,
                      const db::StaleFilter& filter, Batch& batch) {
  batch.writes.reserve(batch.rows.size());
  const std::string target_prefix = db::TargetPrefix(column, filter.target_version);
  // One wiped buffer for every plaintext of the batch, rather than one allocation per value.
  SecretBytes plaintext;
  std::string key_text;
  for (db::StoredValue& row : batch.rows) {
    if (!row.value || !IsStaleFor(*row.value, target_prefix, filter.include_plaintext)) continue;
    std::string& old_value = *row.value;
    key_text = db::RowKeyText(row.key);
    const ValueLocation location = LocationOf(column, key_text);
    Result<std::string> replacement = std::string();
    if (LooksEncrypted(old_value)) {
      Status decrypted = cipher.DecryptInto(old_value, plaintext, &location);
      if (!decrypted.ok()) {
        batch.failures.push_back(
            RowFailure{std::move(row.key), EnvelopeVersionOrZero(old_value),
                       DecryptErrorClass(decrypted.error().code, old_value, location,
                                         cipher.keyring().records())});
        continue;
      }
      replacement = cipher.Encrypt(plaintext, &location);
    } else {
      replacement = cipher.Encrypt(AsBytes(old_value), &location);
    }
    if (!replacement.ok()) return replacement.status();
    batch.writes.push_back(
        db::CasWrite{std::move(row.key), std::move(old_value), std::move(*replacement)});
  }
  batch.rows.clear();
  batch.rows.shrink_to_fit();
  return Status::Ok();
}

}  // namespace udmg::pipeline
