// The JSON documents of the commands' --json (docs/json.md lists every field; a test checks each
// command's output against docs/json-schema.json). Rendering only: the reports come from pipeline/.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "db/store.h"
#include "pipeline/key_policy.h"
#include "pipeline/reencrypt.h"
#include "pipeline/sweep.h"
#include "pipeline/verify.h"

namespace udmg::cli {

nlohmann::json ReencryptJson(const pipeline::ReencryptReport& report);
nlohmann::json SweepJson(const pipeline::SweepReport& report);
nlohmann::json VerifyJson(const pipeline::VerifyReport& report);
nlohmann::json ColumnsJson(const std::vector<db::ColumnRef>& columns);
// The policy and where the keys stand against it (`policy show --json`, status's cryptoperiods).
nlohmann::json PolicyJson(const pipeline::PolicyStanding& standing);

// Prints `document` on stdout, indented, as the command's only output.
void PrintJson(const nlohmann::json& document);

}  // namespace udmg::cli
