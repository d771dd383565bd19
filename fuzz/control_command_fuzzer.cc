// Live-control commands, from the control socket or HTTP /control (pipeline/control.h). A command
// that parses, printed back canonically (verb, or verb=value with the shortest exact number),
// parses to the same command. Execute on a fresh Throttle answers any line with one JSON object on
// one line whose "ok" is whether the line parses; a refusal is kBadInput on one line. The job
// then goes on under the new settings: batches are admitted and waits stay in range.
#include <charconv>
#include <cstring>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "pipeline/control.h"

using namespace udmg;
using namespace udmg::pipeline;

namespace {

std::string Canonical(const ControlCommand& command) {
  switch (command.verb) {
    case ControlVerb::kStatus: return "status";
    case ControlVerb::kPause: return "pause";
    case ControlVerb::kResume: return "resume";
    case ControlVerb::kRate: {
      if (!command.rate) return "rate";
      char number[64];
      const auto end = std::to_chars(number, number + sizeof number, *command.rate).ptr;
      return "rate=" + std::string(number, end);
    }
    case ControlVerb::kBatchSize:
      return command.batch_size ? "batch-size=" + std::to_string(*command.batch_size)
                                : "batch-size";
  }
  std::abort();
}

bool SameCommand(const ControlCommand& a, const ControlCommand& b) {
  const bool same_rate = a.rate.has_value() == b.rate.has_value() &&
                         (!a.rate || std::memcmp(&*a.rate, &*b.rate, sizeof(double)) == 0);
  return a.verb == b.verb && same_rate && a.batch_size == b.batch_size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line = fuzz::InputText(data, size);
  Result<ControlCommand> command = ParseControlCommand(line);
  if (command.ok()) {
    Result<ControlCommand> again = ParseControlCommand(Canonical(*command));
    FUZZ_CHECK(again.ok() && SameCommand(*again, *command),
               "a command printed canonically does not parse to the same command");
  } else {
    fuzz::CheckError(command.error(), ErrorCode::kBadInput);
  }

  ManualClock clock;
  std::unique_ptr<Throttle> throttle = *Throttle::Create(ThrottleOptions{}, clock);
  ProgressTracker progress(clock, 1000, 10);
  ControlCommands commands(*throttle, &progress);
  const std::string reply = commands.Execute(line);
  FUZZ_CHECK(reply.find('\n') == std::string::npos, "a reply spans several lines");
  const nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
  FUZZ_CHECK(parsed.is_object() && parsed.contains("ok") && parsed["ok"].is_boolean(),
             "a reply is not a JSON object with \"ok\"");
  FUZZ_CHECK(parsed["ok"].get<bool>() == command.ok(), "the reply's \"ok\" disagrees with parsing");

  throttle->Resume();  // a pause holds until resumed; the rate and batch size stay as set
  for (int batch = 0; batch < 3; ++batch) {
    const size_t rows = throttle->BatchSize();
    FUZZ_CHECK(rows >= 1 && rows <= kMaxBatchSize, "a batch size out of range");
    const ThrottleDecision decision = throttle->TryAdmit(rows);
    FUZZ_CHECK(decision.admitted || decision.retry_after > Duration::zero(),
               "a batch neither admitted nor given a wait");
    clock.Advance(decision.retry_after);
  }
  return 0;
}
