#include "metrics/textfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "metrics/text_serializer.h"

namespace udmg::metrics {
namespace {

// Closes on every path out, so a failure never leaks the descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { Close(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int Close() {
    const int rc = fd_ >= 0 ? close(fd_) : 0;
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status Failure(ErrorCode code, const std::string& path, const char* step, int error) {
  return Status(code, "cannot write metrics textfile " + path + ": " + step + ": " +
                          std::strerror(error) + "; check the directory and free space");
}

Status WriteAll(int fd, std::string_view content, const std::string& path) {
  while (!content.empty()) {
    const ssize_t written = write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Failure(ErrorCode::kInternal, path, "write", errno);
    }
    content.remove_prefix(static_cast<size_t>(written));
  }
  return Status::Ok();
}

std::string TempPathFor(const std::filesystem::path& target) {
  static std::atomic<unsigned> counter{0};
  const std::string name = "." + target.filename().string() + ".tmp-" +
                           std::to_string(getpid()) + "-" + std::to_string(counter++);
  return (target.parent_path() / name).string();
}

// `created` tells the caller whether `temp` is ours to remove after a failure.
Status WriteAndRename(const std::string& temp, const std::string& path, std::string_view content,
                      bool& created) {
  FileDescriptor file(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (file.get() < 0) return Failure(ErrorCode::kBadInput, path, "create temp file", errno);
  created = true;
  // The umask may have narrowed the mode: node_exporter often runs as another user.
  if (fchmod(file.get(), 0644) != 0) return Failure(ErrorCode::kInternal, path, "chmod", errno);
  UDMG_RETURN_IF_ERROR(WriteAll(file.get(), content, path));
  if (fsync(file.get()) != 0) return Failure(ErrorCode::kInternal, path, "fsync", errno);
  if (file.Close() != 0) return Failure(ErrorCode::kInternal, path, "close", errno);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return Failure(ErrorCode::kInternal, path, "rename", errno);
  }
  return Status::Ok();
}

}  // namespace

Status WriteTextfileContent(const std::string& path, std::string_view content) {
  std::error_code error;
  const std::filesystem::path target = std::filesystem::absolute(path, error);
  if (error || path.empty() || !target.has_filename()) {
    return Status(ErrorCode::kBadInput,
                  "bad metrics textfile path \"" + path + "\": give a file path");
  }
  const std::string temp = TempPathFor(target);
  bool created = false;
  Status written = WriteAndRename(temp, target.string(), content, created);
  if (!written.ok()) {
    if (created) unlink(temp.c_str());
    return written;
  }
  // Make the rename itself durable; a failure here leaves a complete file, so it is not fatal.
  FileDescriptor directory(open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() >= 0) fsync(directory.get());
  return Status::Ok();
}

Status WriteTextfile(const std::string& path, const std::vector<MetricFamily>& families) {
  return WriteTextfileContent(path, TextSerializer().Serialize(families));
}

}  // namespace udmg::metrics
