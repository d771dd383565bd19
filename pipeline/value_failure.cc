#include "pipeline/value_failure.h"

#include "engine/envelope.h"

namespace udmg::pipeline {

std::string_view DecryptErrorClass(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadInput: return kMalformed;
    case ErrorCode::kNotFound: return kUnknownVersion;
    default: return kDecryptionFailed;
  }
}

uint32_t EnvelopeVersionOrZero(std::string_view value) {
  auto parts = ParseEnvelope(value);
  return parts.ok() ? parts->version : 0;
}

}  // namespace udmg::pipeline
