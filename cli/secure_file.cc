#include "cli/secure_file.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace udmg::cli {
namespace {

std::string DirectoryOf(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::string Reason() { return std::strerror(errno); }

Error ExistsError(const std::string& path) {
  return Error{ErrorCode::kBadInput, path + " exists: pass --force to replace it"};
}

bool WriteAll(int fd, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t wrote = ::write(fd, data.data() + done, data.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

// Moves `temp` to `path`. Without `force`, only when `path` does not exist, atomically: a file
// created there meanwhile is never replaced. Filesystems without RENAME_NOREPLACE get link().
Status MoveIntoPlace(const std::string& temp, const std::string& path, bool force) {
  if (force) {
    if (::rename(temp.c_str(), path.c_str()) == 0) return Status::Ok();
  } else {
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
      return Status::Ok();
    }
    if (errno == EINVAL || errno == ENOSYS) {
      if (::link(temp.c_str(), path.c_str()) == 0) {
        ::unlink(temp.c_str());
        return Status::Ok();
      }
    }
    if (errno == EEXIST) return ExistsError(path);
  }
  return Error{ErrorCode::kBadInput,
               "cannot move the new file into place as " + path + ": " + Reason()};
}

// Makes the rename durable. Some filesystems cannot fsync a directory (EINVAL): nothing to do.
Status SyncDirectory(const std::string& directory) {
  ScopedFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return Status::Ok();
  if (::fsync(dir.get()) != 0 && errno != EINVAL) {
    return Error{ErrorCode::kInternal, "could not sync the directory " + directory + ": " +
                                           Reason() + " (the file is written; check the disk)"};
  }
  return Status::Ok();
}

}  // namespace

Status CheckCanCreate(const std::string& path, bool force) {
  struct stat info {};
  if (!force && ::lstat(path.c_str(), &info) == 0) return ExistsError(path);
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data, bool force) {
  UDMG_RETURN_IF_ERROR(CheckCanCreate(path, force));
  const std::string directory = DirectoryOf(path);
  std::string temp = directory + "/." + std::filesystem::path(path).filename().string() +
                     ".tmp-XXXXXX";
  // mkstemp opens O_CREAT | O_EXCL with mode 0600: no other user can open it in between.
  ScopedFd file(::mkostemp(temp.data(), O_CLOEXEC));
  if (file.get() < 0) {
    return Error{ErrorCode::kBadInput, "cannot create a file in " + directory + ": " + Reason() +
                                           ": choose a writable directory"};
  }
  bool written = ::fchmod(file.get(), S_IRUSR | S_IWUSR) == 0 && WriteAll(file.get(), data) &&
                 ::fsync(file.get()) == 0;
  std::string write_error = Reason();
  bool closed = file.Close();
  if (!written || !closed) {
    ::unlink(temp.c_str());
    return Error{ErrorCode::kInternal, "could not write " + path + ": " +
                                           (written ? Reason() : write_error) +
                                           " (nothing was written there; check the disk)"};
  }
  Status moved = MoveIntoPlace(temp, path, force);
  if (!moved.ok()) {
    ::unlink(temp.c_str());
    return moved;
  }
  return SyncDirectory(directory);
}

Result<std::vector<uint8_t>> ReadFileBounded(const std::string& path, size_t max_bytes,
                                             const std::string& what) {
  ScopedFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    if (errno == ENOENT) {
      return Error{ErrorCode::kNotFound, what + " does not exist: give the path of the file"};
    }
    return Error{ErrorCode::kBadInput, what + " cannot be opened: " + Reason()};
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return Error{ErrorCode::kBadInput, what + " is not a regular file: give the path of the file"};
  }
  std::vector<uint8_t> content(max_bytes + 1);
  size_t total = 0;
  while (total < content.size()) {
    ssize_t got = ::read(file.get(), content.data() + total, content.size() - total);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{ErrorCode::kBadInput, what + " cannot be read: " + Reason()};
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  if (total > max_bytes) {
    return Error{ErrorCode::kBadInput, what + " is larger than " + std::to_string(max_bytes) +
                                           " bytes: it is not a file this command reads"};
  }
  content.resize(total);
  return content;
}

Result<ScopedFd> OpenSecretFile(const std::string& path, std::string_view flag, ErrorCode code) {
  const std::string name(flag);
  ScopedFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    return Error{code, "the file given to " + name + " cannot be opened (" + Reason() +
                           "): give the path of the file that holds it (the text given is not "
                           "shown: it may be the secret itself)"};
  }
  const std::string what = name + " " + path;  // it exists: a path, not a secret
  struct stat info {};
  if (fstat(file.get(), &info) != 0) {
    return Error{code, what + " cannot be examined: " + Reason()};
  }
  if (S_ISDIR(info.st_mode)) return Error{code, what + " is a directory: give a file"};
  if (S_ISREG(info.st_mode) && (info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return Error{code, what + " is accessible by group or others (mode " + mode +
                           "): run `chmod 600 " + path + "` and try again"};
  }
  return file;
}

std::optional<SecretBytes> ReadSecretUpTo(int fd, size_t limit) {
  SecretBytes content(limit);  // one block for the whole read: nothing left behind by a regrowth
  size_t total = 0;
  while (total < content.size()) {
    ssize_t got = ::read(fd, content.data() + total, content.size() - total);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::nullopt;
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  content.resize(total);  // shrinking keeps the block; it is wiped when freed
  return content;
}

}  // namespace udmg::cli
