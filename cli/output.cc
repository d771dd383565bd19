#include "cli/output.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/time_text.h"
#include "cli/setting_flags.h"

namespace udmg::cli {
namespace {

std::atomic<LogFormat> log_format{LogFormat::kText};
std::atomic<int64_t> log_job_id{0};

// `prefix` is what the text format puts before the message ("udmg-server: error: ").
void PrintLine(std::string_view level, std::string_view prefix, std::string_view message) {
  std::string line(message);
  std::replace(line.begin(), line.end(), '\n', ' ');
  if (log_format.load() == LogFormat::kText) {
    std::cerr << prefix << line << std::endl;
    return;
  }
  nlohmann::json entry = {{"time", Rfc3339Millis(std::chrono::system_clock::now())},
                          {"level", level},
                          {"message", line}};
  if (int64_t job_id = log_job_id.load(); job_id != 0) entry["job_id"] = job_id;
  // Invalid UTF-8 (a name read from the database) is replaced, never a reason to lose the line.
  std::cerr << entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

}  // namespace

void SetLogFormat(LogFormat format) { log_format.store(format); }
LogFormat CurrentLogFormat() { return log_format.load(); }
void SetLogJobId(int64_t job_id) { log_job_id.store(job_id); }

int PrintError(const Error& error) {
  PrintLine("error", "udmg-server: error: ", NameFlag(error.message, error.setting));
  return static_cast<int>(error.code);
}

void PrintWarning(std::string_view line, std::string_view setting) {
  PrintLine("warning", "udmg-server: warning: ", NameFlag(line, setting));
}
void PrintNote(std::string_view line) { PrintLine("note", "udmg-server: note: ", line); }
void PrintNotice(std::string_view line) { PrintLine("info", "", line); }

std::string RowName(const db::ColumnRef& column, const db::RowKey& key) {
  return column.Name() + " " + column.key_column + "=" + db::RowKeyText(key);
}

}  // namespace udmg::cli
