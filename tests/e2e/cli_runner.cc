#include "tests/e2e/cli_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace udmg::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kBasePath[] = "/usr/local/bin:/usr/bin:/bin";
// Passed through from the test's environment: they change how a child behaves under test, never
// what it computes (sanitizer settings of an instrumented build, where temp files go).
constexpr const char* kPassThroughEnv[] = {"TMPDIR",       "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                           "LSAN_OPTIONS", "TSAN_OPTIONS"};

std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env = {{"PATH", kBasePath}, {"LANG", "C"}};
  for (const char* name : kPassThroughEnv) {
    if (const char* value = getenv(name)) env[name] = value;
  }
  for (const auto& [name, value] : extra) env[name] = value;
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  return entries;
}

std::vector<char*> CStringArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Only async-signal-safe calls between fork and exec: write a fixed message and leave.
[[noreturn]] void ChildFail(const char* what) {
  const char* reason = strerror(errno);  // not strictly async-signal-safe, but no lock in glibc
  (void)!write(STDERR_FILENO, "cli_runner: ", 12);
  (void)!write(STDERR_FILENO, what, strlen(what));
  (void)!write(STDERR_FILENO, ": ", 2);
  (void)!write(STDERR_FILENO, reason, strlen(reason));
  (void)!write(STDERR_FILENO, "\n", 1);
  _exit(127);
}

fs::path FindOnPath(const fs::path& name) {
  if (name.has_parent_path()) return name;
  std::stringstream dirs(kBasePath);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

std::string Truncated(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "...[" + std::to_string(text.size() - limit) + " more bytes]";
}

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trimmed(const std::string& text) {
  constexpr char kSpace[] = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

std::string Base64(const std::vector<unsigned char>& bytes, bool url) {
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), bytes.data(),
                             static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(size));
  while (!encoded.empty() && encoded.back() == '=') encoded.pop_back();  // found with or without
  if (url) {
    for (char& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return encoded;
}

void AddKeyForms(const std::string& given, std::vector<std::string>& keys) {
  const std::string key = Trimmed(given);
  const bool hex = key.size() == 64 &&
                   key.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!hex) {
    if (key.size() >= 32) keys.push_back(key);
    return;
  }
  std::vector<unsigned char> bytes;
  for (size_t i = 0; i < key.size(); i += 2) {
    bytes.push_back(static_cast<unsigned char>(std::stoi(key.substr(i, 2), nullptr, 16)));
  }
  keys.push_back(Lowercase(key));
  keys.push_back(Base64(bytes, /*url=*/true));
  if (std::string plain = Base64(bytes, /*url=*/false); plain != keys.back()) keys.push_back(plain);
}

bool IsUdmgServer(const Invocation& invocation) {
  return invocation.program.filename() == "udmg-server";
}

// The command line for a failure message, with every --new-key value masked.
std::string DescribeCommand(const Invocation& invocation) {
  std::string text = invocation.program.filename().string();
  bool mask_next = false;
  for (const std::string& arg : invocation.args) {
    text += " " + (mask_next && arg != "-" ? std::string("<key>") : arg);
    mask_next = arg == "--new-key";
    if (arg.rfind("--new-key=", 0) == 0) text.replace(text.size() - arg.size(), arg.size(),
                                                      "--new-key=<key>");
  }
  return text;
}

// Fails the calling test when `result` shows a key (hex compared without regard to case).
void ExpectNoKeyShown(const ProcessResult& result, const std::vector<std::string>& keys,
                      const std::string& command) {
  const std::string out = result.stdout_data;
  const std::string err = result.stderr_data;
  const std::string out_lower = Lowercase(out);
  const std::string err_lower = Lowercase(err);
  for (const std::string& key : keys) {
    const bool hex = key.find_first_not_of("0123456789abcdef") == std::string::npos;
    const std::string& in_out = hex ? out_lower : out;
    const std::string& in_err = hex ? err_lower : err;
    EXPECT_EQ(in_out.find(key), std::string::npos)
        << "a key given to `" << command << "` appears on its stdout";
    EXPECT_EQ(in_err.find(key), std::string::npos)
        << "a key given to `" << command << "` appears on its stderr";
  }
}

}  // namespace

std::vector<std::string> KeysGivenTo(const Invocation& invocation) {
  std::vector<std::string> keys;
  if (auto k0 = invocation.env.find(kKeyEnv); k0 != invocation.env.end()) {
    AddKeyForms(k0->second, keys);
  }
  auto relative_to_child = [&](fs::path path) {
    if (path.is_relative() && !invocation.working_dir.empty()) path = invocation.working_dir / path;
    return path;
  };
  // K0 from its other sources: a key file, a systemd credential.
  if (auto file = invocation.env.find(kKeyFileEnv); file != invocation.env.end()) {
    AddKeyForms(ReadFile(relative_to_child(file->second)), keys);
  }
  if (auto credentials = invocation.env.find(kCredentialsEnv);
      credentials != invocation.env.end()) {
    AddKeyForms(ReadFile(relative_to_child(credentials->second) / "udmg-k0"), keys);
  }
  const std::vector<std::string>& args = invocation.args;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--new-key" && has_value) {
      AddKeyForms(args[i + 1] == "-" ? invocation.stdin_data : args[i + 1], keys);
    } else if (args[i].rfind("--new-key=", 0) == 0) {
      AddKeyForms(args[i].substr(10), keys);
    } else if (args[i] == "--new-key-file" && has_value) {
      AddKeyForms(ReadFile(relative_to_child(args[i + 1])), keys);
    }
  }
  return keys;
}

std::vector<std::string> ProcessResult::StderrLines() const {
  std::vector<std::string> lines;
  std::string::size_type start = 0;
  while (start < stderr_data.size()) {
    auto end = stderr_data.find('\n', start);
    if (end == std::string::npos) end = stderr_data.size();
    lines.push_back(stderr_data.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string ProcessResult::Describe() const {
  std::ostringstream out;
  if (!start_error.empty()) {
    out << "not started: " << start_error;
    return out.str();
  }
  if (term_signal != 0) {
    out << "killed by signal " << term_signal << (timed_out ? " (watchdog timeout)" : "");
  } else {
    out << "exit " << exit_code;
  }
  out << "\n--- stdout ---\n" << Truncated(stdout_data, 3000);
  out << "\n--- stderr ---\n" << Truncated(stderr_data, 3000);
  return out.str();
}

StartGate::StartGate() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == 0) {
    read_fd_ = fds[0];
    write_fd_ = fds[1];
  }
}

StartGate::~StartGate() {
  Open();
  if (read_fd_ >= 0) close(read_fd_);
}

void StartGate::Open() {
  if (write_fd_ >= 0) close(write_fd_);
  write_fd_ = -1;
}

std::unique_ptr<BackgroundProcess> BackgroundProcess::Start(const Invocation& invocation,
                                                            StartGate* gate) {
  std::unique_ptr<BackgroundProcess> process(new BackgroundProcess());
  if (access(invocation.program.c_str(), X_OK) != 0) {
    process->start_error_ = invocation.program.string() + " is not an executable file";
    return process;
  }
  if (IsUdmgServer(invocation)) {
    process->keys_given_ = KeysGivenTo(invocation);  // before the run: a key file may be moved
    process->description_ = DescribeCommand(invocation);
  }
  const fs::path& capture_dir = process->capture_dir_.path();
  if (capture_dir.empty() || !WriteFile(capture_dir / "stdin", invocation.stdin_data)) {
    process->start_error_ = "cannot create capture files in the temp directory";
    return process;
  }
  const fs::path out_path = capture_dir / "stdout";
  const fs::path err_path = capture_dir / "stderr";
  const int in_fd = open((capture_dir / "stdin").c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_strings = {invocation.program.string()};
  argv_strings.insert(argv_strings.end(), invocation.args.begin(), invocation.args.end());
  std::vector<std::string> env_strings = ChildEnvironment(invocation.env);
  std::vector<char*> argv = CStringArray(argv_strings);
  std::vector<char*> envp = CStringArray(env_strings);
  const std::string working_dir = invocation.working_dir.string();
  const int gate_fd = gate ? gate->read_fd_ : -1;
  const int gate_write_fd = gate ? gate->write_fd_ : -1;

  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    process->start_error_ = "cannot open capture files: " + std::string(strerror(errno));
  } else {
    const pid_t pid = fork();
    if (pid == 0) {
      if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
          dup2(err_fd, STDERR_FILENO) < 0) {
        _exit(127);
      }
      if (gate_fd >= 0) {
        // EOF comes when every copy of the write end is closed: ours now, the test's in Open().
        if (gate_write_fd >= 0) close(gate_write_fd);
        char byte;
        ssize_t n;
        do {
          n = read(gate_fd, &byte, 1);
        } while (n < 0 && errno == EINTR);
      }
      if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) ChildFail("chdir");
      execve(argv[0], argv.data(), envp.data());
      ChildFail("execve");
    }
    if (pid < 0) {
      process->start_error_ = "fork failed: " + std::string(strerror(errno));
    } else {
      process->pid_ = pid;
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  return process;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool BackgroundProcess::Kill(int signal) {
  if (pid_ <= 0 || reaped_) return false;
  return kill(pid_, signal) == 0;
}

bool BackgroundProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  if (waitpid(pid_, &wait_status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

ProcessResult BackgroundProcess::Wait(std::chrono::seconds timeout) {
  ProcessResult result;
  if (pid_ <= 0) {
    result.start_error = start_error_.empty() ? "no process to wait for" : start_error_;
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  while (!reaped_) {
    const pid_t done = waitpid(pid_, &wait_status_, WNOHANG);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) {
      result.start_error = "waitpid failed: " + std::string(strerror(errno));
      reaped_ = true;
      return result;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wait_status_, 0);
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  reaped_ = true;
  const int status = wait_status_;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  result.stdout_data = ReadFile(capture_dir_.path() / "stdout");
  result.stderr_data = ReadFile(capture_dir_.path() / "stderr");
  ExpectNoKeyShown(result, keys_given_, description_);
  return result;
}

ProcessResult RunProcess(const Invocation& invocation, std::chrono::seconds timeout) {
  return BackgroundProcess::Start(invocation)->Wait(timeout);
}

ProcessResult RunTool(Invocation invocation) {
  invocation.program = FindOnPath(invocation.program);
  return RunProcess(invocation);
}

std::string RandomKeyHex() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    ADD_FAILURE() << "RAND_bytes failed";
    return {};
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0xf]);
  }
  return hex;
}

std::string SqliteDump(const fs::path& database) {
  // .timeout: wait for a writer (a udmg-server running in the background) instead of failing.
  ProcessResult result = RunTool(
      {.program = "sqlite3", .args = {database.string(), ".timeout 10000", ".dump"}});
  if (!result.Exited(0)) {
    ADD_FAILURE() << "sqlite3 .dump " << database << " failed: " << result.Describe();
    return {};
  }
  return result.stdout_data;
}

std::string SqliteExec(const fs::path& database, const std::string& sql) {
  ProcessResult result = RunTool(
      {.program = "sqlite3", .args = {"-bail", database.string()},
       .stdin_data = ".timeout 10000\n" + sql});
  if (!result.Exited(0) || !result.stderr_data.empty()) {
    ADD_FAILURE() << "sqlite3 " << database << " failed on: " << sql << "\n" << result.Describe();
  }
  return result.stdout_data;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool WriteFile(const fs::path& path, const std::string& data, fs::perms perms) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    // Narrow the mode before the content goes in.
    std::error_code error;
    fs::permissions(path, perms, fs::perm_options::replace, error);
    if (error) return false;
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.flush()) return false;
  }
  return true;
}

UdmgServer::UdmgServer(fs::path working_dir, fs::path binary)
    : binary_(std::move(binary)),
      working_dir_(std::move(working_dir)),
      database_(working_dir_ / "udmg.db") {
  db::testing::StoreBackend backend = db::testing::CurrentBackend();
  if (backend.name == "sqlite") return;
  postgres_ = backend.make_database();
  if (postgres_ == nullptr) ADD_FAILURE() << "no " << backend.name << " database for this test";
  database_ = working_dir_ / "postgres-mirror.db";
}

fs::path UdmgServer::database() const {
  if (postgres_ != nullptr) MirrorToSqlite(postgres_->url(), database_);
  return database_;
}

std::string UdmgServer::database_url() const {
  return postgres_ != nullptr ? postgres_->url() : "sqlite:" + database_.string();
}

// udmg_nodes rows are presence bookkeeping: every command that opens the keyring, even
// a refused one, refreshes its node's row. They are not stored data, so dumps leave them out,
// and the audit entries of refusals: a refused command records itself (docs/exit-codes.md).
static std::string WithoutNodeRowsAndRefusals(const std::string& dump) {
  std::istringstream in(dump);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("INSERT INTO udmg_nodes ", 0) == 0 || line.rfind("udmg_nodes: ", 0) == 0) {
      continue;
    }
    const bool audit_row =
        line.rfind("INSERT INTO udmg_audit ", 0) == 0 || line.rfind("udmg_audit: ", 0) == 0;
    if (audit_row && line.find("refused: ") != std::string::npos) continue;
    kept += line + "\n";
  }
  return kept;
}

std::string UdmgServer::Dump() const {
  return WithoutNodeRowsAndRefusals(postgres_ != nullptr ? postgres_->Dump()
                                                         : SqliteDump(database_));
}

std::string UdmgServer::Exec(const std::string& sql) const {
  if (postgres_ == nullptr) return SqliteExec(database_, sql);
  // -X: no ~/.psqlrc; -At and '|': the sqlite3 CLI's list output.
  ProcessResult result = RunTool({.program = "psql",
                                  .args = {"-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1",
                                           "-d", postgres_->url(), "-c", sql}});
  if (!result.Exited(0) || !result.stderr_data.empty()) {
    ADD_FAILURE() << "psql failed on: " << sql << "\n" << result.Describe();
  }
  return result.stdout_data;
}

fs::path UdmgServer::DefaultBinary() { return UDMG_SERVER_BINARY; }

Invocation UdmgServer::Command(std::vector<std::string> args, std::string stdin_data) const {
  Invocation invocation{.program = binary_, .stdin_data = std::move(stdin_data),
                        .working_dir = working_dir_};
  invocation.args = {"--db", database_url()};
  invocation.args.insert(invocation.args.end(), args.begin(), args.end());
  if (root_key_) invocation.env[kKeyEnv] = *root_key_;
  for (const auto& [name, value] : extra_env_) invocation.env[name] = value;
  return invocation;
}

ProcessResult UdmgServer::Run(std::vector<std::string> args, std::string stdin_data) const {
  return RunProcess(Command(std::move(args), std::move(stdin_data)));
}

std::unique_ptr<BackgroundProcess> UdmgServer::Start(std::vector<std::string> args,
                                                     StartGate* gate) const {
  return BackgroundProcess::Start(Command(std::move(args)), gate);
}

}  // namespace udmg::testing
