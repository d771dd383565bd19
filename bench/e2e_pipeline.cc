#include "bench/e2e_pipeline.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench/e2e_dataset.h"
#include "pipeline/reencrypt.h"

namespace udmg::bench {
namespace {

Result<uint64_t> RunJob(const std::string& url, const PipelineSettings& settings, bool shared) {
  UDMG_ASSIGN_OR_RETURN(OpenedDataset dataset, OpenDataset(url));
  pipeline::ReencryptOptions options;
  options.database_url = url;
  options.keyring = dataset.keyring;
  options.resume = shared ? pipeline::ResumeMode::kResumeOrStart : pipeline::ResumeMode::kStartNew;
  options.batch_size = settings.batch_size;
  options.batches_in_flight = settings.batches_in_flight;
  options.shared = shared;
  options.rows_per_range = settings.rows_per_range;
  dataset.store.reset();  // the pipeline opens its own connections
  UDMG_ASSIGN_OR_RETURN(pipeline::ReencryptReport report, pipeline::RunReencryption(options));
  UDMG_RETURN_IF_ERROR(pipeline::ReportStatus(report));
  return report.migrated;
}

// The child's side: runs its share and writes the rows it migrated to `pipe_fd`; never returns.
[[noreturn]] void RunChild(const std::string& url, const PipelineSettings& settings, int pipe_fd) {
  Result<uint64_t> migrated = RunJob(url, settings, /*shared=*/true);
  if (!migrated.ok()) {
    std::fprintf(stderr, "udmg-reencrypt-bench: shared pipeline process %d: %s\n", getpid(),
                 migrated.error().message.c_str());
    _exit(static_cast<int>(migrated.error().code));
  }
  uint64_t rows = *migrated;
  bool written = write(pipe_fd, &rows, sizeof(rows)) == static_cast<ssize_t>(sizeof(rows));
  _exit(written ? 0 : static_cast<int>(ErrorCode::kInternal));
}

}  // namespace

Result<uint64_t> RunPipeline(const std::string& url, const PipelineSettings& settings) {
  return RunJob(url, settings, /*shared=*/false);
}

Result<uint64_t> RunSharedPipelines(const std::string& url, size_t processes,
                                    const PipelineSettings& settings) {
  if (processes == 0) return Error{ErrorCode::kUsage, "give at least one pipeline process"};
  int fds[2];
  if (pipe(fds) != 0) {
    return Error{ErrorCode::kInternal, std::string("cannot make a pipe: ") + std::strerror(errno)};
  }
  std::vector<pid_t> children;
  for (size_t i = 0; i < processes; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      RunChild(url, settings, fds[1]);
    }
    if (pid < 0) break;  // waited for below, reported as a failure
    children.push_back(pid);
  }
  close(fds[1]);
  bool failed = children.size() != processes;
  for (pid_t child : children) {
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed = true;
    }
  }
  uint64_t total = 0;
  uint64_t rows = 0;
  while (read(fds[0], &rows, sizeof(rows)) == static_cast<ssize_t>(sizeof(rows))) total += rows;
  close(fds[0]);
  if (failed) {
    return Error{ErrorCode::kInternal, "a shared pipeline process failed or could not start "
                                       "(its message is above): run the benchmark again"};
  }
  return total;
}

}  // namespace udmg::bench
