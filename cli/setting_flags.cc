#include "cli/setting_flags.h"

namespace udmg::cli {
namespace {

struct SettingFlag {
  std::string_view setting;  // the field of the library's options
  std::string_view words;    // how the library's messages name it
  std::string_view flag;     // how the operator sets it
};

constexpr SettingFlag kSettingFlags[] = {
    {"batch_size", "the batch size", "--batch-size"},
    {"batches_in_flight", "the batches in flight", "--batches-in-flight"},
    {"rows_per_second", "the rate", "--rate"},
    {"target_batch_time", "the target batch time", "--target-batch-time"},
    {"max_write_latency", "the write latency limit", "--max-write-latency"},
    {"critical_write_latency", "the critical write latency", "--critical-write-latency"},
    {"max_replica_lag", "the replica lag limit", "--max-replica-lag"},
    {"run_time", "the run time", "--run-time"},
    {"max_duration", "the sweep's duration limit", "--max-duration"},
    {"lease", "the lease", "--lease"},
    {"rows_per_range", "the rows per range", "--range-rows"},
    {"max_failures", "the failure limit", "--max-failures"},
    {"resume", "the resume-only mode", "--resume"},
    {"shared", "the shared mode", "--shared"},
    {"mark_stopped", "the mark-stopped option", "--mark-stopped"},
    {"control_socket", "the control socket path", "--control-socket PATH"},
    {"database_url", "the database URL", "--db / UDMG_DATABASE_URL"},
    {"node_id", "the node id", "UDMG_NODE_ID"},
    {"key_column", "the key column", "--key"},
    {"pushgateway", "the pushgateway URL", "--pushgateway"},
    {"backup_file", "the backup file's path", "the path given to --input"},
    {"force", "the force option", "--force"},
};

const SettingFlag* FindSetting(std::string_view setting) {
  for (const SettingFlag& entry : kSettingFlags) {
    if (entry.setting == setting) return &entry;
  }
  return nullptr;
}

}  // namespace

std::string ReplaceSettingWords(std::string_view text, std::string_view setting) {
  std::string said(text);
  const SettingFlag* entry = setting.empty() ? nullptr : FindSetting(setting);
  if (entry == nullptr) return said;
  for (size_t at = said.find(entry->words); at != std::string::npos;
       at = said.find(entry->words, at + entry->flag.size())) {
    said.replace(at, entry->words.size(), entry->flag);
  }
  return said;
}

std::string NameFlag(std::string_view message, std::string_view setting) {
  const SettingFlag* entry = setting.empty() ? nullptr : FindSetting(setting);
  if (entry == nullptr) return std::string(message);
  if (message.find(entry->words) == std::string_view::npos) {
    return std::string(message) + " (" + std::string(entry->flag) + ")";
  }
  return ReplaceSettingWords(message, setting);
}

}  // namespace udmg::cli
