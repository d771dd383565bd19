#include "pipeline/value_failure.h"

namespace udmg::pipeline {

std::string_view DecryptErrorClass(ErrorCode code, std::string_view value,
                                   const ValueLocation& location, const KeyringRecords& keyring) {
  switch (code) {
    case ErrorCode::kBadInput: return kMalformed;
    case ErrorCode::kNotFound:
      return IsRetiredVersion(keyring, EnvelopeVersionOrZero(value)) ? kRetiredVersion
                                                                     : kUnknownVersion;
    default: break;
  }
  auto parts = ParseEnvelope(value);
  if (parts.ok() && RefusedAsUnbound(*parts, &location)) return kUnboundValue;
  return kDecryptionFailed;
}

uint32_t EnvelopeVersionOrZero(std::string_view value) {
  auto parts = ParseEnvelope(value);
  return parts.ok() ? parts->version : 0;
}

ValueLocation LocationOf(const db::ColumnRef& column, std::string_view row_key_text) {
  return ValueLocation{column.table, column.column, row_key_text, column.bound_since};
}

}  // namespace udmg::pipeline
