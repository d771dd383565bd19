// How a stored value failed to decrypt, in the words of udmg_reencrypt_failures.error_class, so
// that sweep, verify and the re-encryption job report failures alike; and where a value lives,
// as ValueCipher needs it for row binding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "db/store.h"
#include "engine/envelope.h"
#include "engine/keyring.h"

namespace udmg::pipeline {

inline constexpr std::string_view kMalformed = "malformed";               // udmg: but no envelope
inline constexpr std::string_view kUnknownVersion = "unknown_version";    // version not readable
// Under a retired version (retire-key, prune-keys): never decrypted again, kept as it is.
inline constexpr std::string_view kRetiredVersion = "retired_version";
inline constexpr std::string_view kDecryptionFailed = "decryption_failed";  // did not authenticate
// An unbound envelope refused by a row-bound column (RefusedAsUnbound in engine/envelope.h).
inline constexpr std::string_view kUnboundValue = "unbound_value";

// The database refused to write the migrated value (a trigger raising, a constraint): the row is
// left as it was and a job does not try it again (docs/reencryption.md, "Rows the database
// refuses").
inline constexpr std::string_view kWriteRefused = "write_refused";
// The database accepted the write but the row then held another value (a trigger rewrote or
// truncated it): the value written is lost, the job is not done and does not write the row again
// (docs/reencryption.md, "Rows the database changes").
inline constexpr std::string_view kWriteAltered = "write_altered";
// Either: a row the job never writes again.
inline bool IsWriteFailure(std::string_view error_class) {
  return error_class == kWriteRefused || error_class == kWriteAltered;
}

// The class of a ValueCipher::Decrypt error of `value` at `location` with `keyring`'s records
// (kBadInput, kNotFound, kCorruptValue; anything else is reported as decryption_failed).
std::string_view DecryptErrorClass(ErrorCode code, std::string_view value,
                                   const ValueLocation& location, const KeyringRecords& keyring);

// The master version an envelope names, 0 when it is malformed.
uint32_t EnvelopeVersionOrZero(std::string_view value);

// `column`'s names and binding with a row key's text (which must outlive the result).
ValueLocation LocationOf(const db::ColumnRef& column, std::string_view row_key_text);

}  // namespace udmg::pipeline
