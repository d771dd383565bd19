// The GCM nonce budget (docs/security.md): random 96-bit nonces bound one master version to 2^32
// encryptions. Every encryption is counted in the store per version, and a warning goes out once
// a version has passed kNonceWarnEncryptions, well before the bound.
//
// Thread-safety: free functions; the Store they are given is not thread-safe (one per thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "db/store.h"

namespace udmg::pipeline {

// Receives one-line warnings meant for the operator (the CLI prints them on stderr), with the
// setting the line is about (as in Error::setting), or empty.
using WarningSink = std::function<void(std::string_view line, std::string_view setting)>;

// A sink that writes "udmg: warning: <line>" to stderr.
WarningSink StderrWarningSink();

// The warning for a version that has made `count` encryptions.
std::string NonceBudgetWarning(uint32_t version, uint64_t count);

// Adds `made` (encryptions per version) to the store's counts, then warns through `warn` for each
// version in `made` whose total has passed kNonceWarnEncryptions. Call it BEFORE the ciphertexts
// are written, so the stored count never falls behind what is in the database.
Status RecordEncryptions(db::Store& store, const std::map<uint32_t, uint64_t>& made,
                         const WarningSink& warn);

}  // namespace udmg::pipeline
