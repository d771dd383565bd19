#include "pipeline/flow_batch.h"

#include <utility>

#include "engine/envelope.h"
#include "pipeline/value_failure.h"

namespace udmg::pipeline {

bool IsStale(std::string_view value, const db::StaleFilter& filter) {
  if (!LooksEncrypted(value)) return filter.include_plaintext;
  return !value.starts_with(EnvelopePrefix(filter.target_version));
}

Status TransformBatch(ValueCipher& cipher, const db::StaleFilter& filter, Batch& batch) {
  batch.writes.reserve(batch.rows.size());
  // One wiped buffer for every plaintext of the batch, rather than one allocation per value.
  SecretBytes plaintext;
  for (db::StoredValue& row : batch.rows) {
    if (!row.value || !IsStale(*row.value, filter)) continue;
    std::string& old_value = *row.value;
    Result<std::string> replacement = std::string();
    if (LooksEncrypted(old_value)) {
      Status decrypted = cipher.DecryptInto(old_value, plaintext);
      if (!decrypted.ok()) {
        batch.failures.push_back(RowFailure{std::move(row.key), EnvelopeVersionOrZero(old_value),
                                            DecryptErrorClass(decrypted.error().code)});
        continue;
      }
      replacement = cipher.Encrypt(plaintext);
    } else {
      replacement = cipher.Encrypt(AsBytes(old_value));
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
