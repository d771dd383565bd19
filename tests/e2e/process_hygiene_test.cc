// Process hygiene of the real binary (docs/process-hygiene.md): while a slow
// rotate-k0 --reencrypt runs, /proc shows no core file allowed, and neither its environment nor
// its command line holds the root key or the new one (given by file, on stdin, or as an argument,
// which is wiped from argv once parsed). SIGTERM then
// ends it through the normal return path (exit 10, checkpoint saved). The runner itself fails any
// run whose output shows a key it was given (cli_runner.h, KeysGivenTo). Files holding keys are
// checked 0600 where they are made (recovery_test: backup and --write-key-file).
//
// The job runs as an unprivileged user (kUnprivilegedTestUser, made by scripts/setup.sh, when the
// test runs as root; the test's own user otherwise): /proc/PID files are owned by the process's
// user while it is dumpable and by root once it is not, which only tells the two apart for a user
// that is not root. Root then reads /proc/PID/environ all the same, to look for the keys.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

constexpr int kRows = 2000;    // at --rate 50 the job runs for most of a minute
constexpr int kPollTries = 600;  // × kPollStep: a safety net against a hang, not a timing check
constexpr std::chrono::milliseconds kPollStep{50};

std::string ProcFile(pid_t pid, const std::string& name) {
  return "/proc/" + std::to_string(pid) + "/" + name;
}

// The whole file, or nullopt with errno set when it cannot be opened.
std::optional<std::string> ReadProc(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The value of a "Name:\tfirst ..." line of /proc/PID/status (its first field), or "".
std::string StatusField(const std::string& status, const std::string& name) {
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::istringstream fields(line.substr(name.size() + 1));
      std::string first;
      fields >> first;
      return first;
    }
  }
  return "";
}

enum class NewKeySource { kFile, kStdin, kArgument };

class ProcessHygieneTest : public ::testing::TestWithParam<NewKeySource> {
 protected:
  // Every value on an older master version: the job after the rotation has work to do. As root,
  // the working directory and the database then go to kUnprivilegedTestUser, who runs every later
  // command.
  void SetUp() override {
    ASSERT_TRUE(InitDemoAndRotate(server_, kRows));
    if (geteuid() != 0) {
      uid_ = geteuid();
      gid_ = getegid();
      return;
    }
    const passwd* user = getpwnam(kUnprivilegedTestUser);
    ASSERT_NE(user, nullptr) << "no user " << kUnprivilegedTestUser << ": run scripts/setup.sh";
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      ASSERT_EQ(lchown(entry.path().c_str(), uid_, gid_), 0) << entry.path();
    }
    ASSERT_EQ(chown(dir_.path().c_str(), uid_, gid_), 0);
    // exec of a binary its user cannot read leaves the process not dumpable by itself: the
    // binary must be readable for the check to mean anything.
    struct stat binary {};
    ASSERT_EQ(stat(UdmgServer::DefaultBinary().c_str(), &binary), 0);
    ASSERT_TRUE(binary.st_mode & S_IROTH) << UdmgServer::DefaultBinary() << " not world-readable";
  }

  std::unique_ptr<BackgroundProcess> StartRotation(const std::string& new_key) {
    std::vector<std::string> args = {"rotate-k0", "--reencrypt", "--rate", "50", "--no-progress",
                                     "--control-socket", socket_.string()};
    std::string stdin_data;
    if (GetParam() == NewKeySource::kFile) {
      const std::filesystem::path key_file = dir_.path() / "new.key";
      EXPECT_TRUE(WriteFile(key_file, new_key + "\n"));
      EXPECT_EQ(chown(key_file.c_str(), uid_, gid_), 0);  // 0600, so its reader must own it
      args.insert(args.end(), {"--new-key-file", key_file.string()});
    } else if (GetParam() == NewKeySource::kStdin) {
      args.insert(args.end(), {"--new-key", "-"});
      stdin_data = new_key + "\n";
    } else {
      args.insert(args.end(), {"--new-key", new_key});  // wiped from argv once parsed
    }
    return BackgroundProcess::Start(AsUnprivilegedUser(server_.Command(args, stdin_data)));
  }

  // True once the job answers on its control socket: it is past start-up and re-encrypting.
  bool WaitUntilRunning(BackgroundProcess& job) {
    for (int i = 0; i < kPollTries && job.Running(); ++i) {
      ProcessResult status = RunProcess(AsUnprivilegedUser(server_.Command(
          {"reencrypt", "--control", "status", "--control-socket", socket_.string()})));
      if (status.Exited(0)) return true;
      std::this_thread::sleep_for(kPollStep);
    }
    return false;
  }

  TempDir dir_;
  UdmgServer server_{dir_.path()};
  std::filesystem::path socket_ = dir_.path() / "job.control";
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST_P(ProcessHygieneTest, RunningJobShowsNoKeyInProcAndAllowsNoCoreFile) {
  const std::string k0 = server_.root_key();
  const std::string new_key = RandomKeyHex();
  std::unique_ptr<BackgroundProcess> job = StartRotation(new_key);
  ASSERT_TRUE(WaitUntilRunning(*job)) << job->Wait().Describe();
  const pid_t pid = job->pid();

  // Core file size 0, soft and hard.
  std::optional<std::string> limits = ReadProc(ProcFile(pid, "limits"));
  ASSERT_TRUE(limits.has_value());
  EXPECT_NE(limits->find("Max core file size        0                    0"), std::string::npos)
      << *limits;

  // The command line: the file's path or "-", never a key.
  std::optional<std::string> cmdline = ReadProc(ProcFile(pid, "cmdline"));
  ASSERT_TRUE(cmdline.has_value());
  EXPECT_NE(cmdline->find("rotate-k0"), std::string::npos) << "not the job's process";
  EXPECT_EQ(Lower(*cmdline).find(k0), std::string::npos) << "K0 in /proc/PID/cmdline";
  EXPECT_EQ(Lower(*cmdline).find(new_key), std::string::npos) << "new key in /proc/PID/cmdline";

  // Not dumpable: the job runs as an unprivileged user, yet its /proc files are root's.
  std::optional<std::string> status = ReadProc(ProcFile(pid, "status"));
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ(StatusField(*status, "Uid"), std::to_string(uid_)) << "not the unprivileged user";
  ASSERT_NE(uid_, 0u);
  struct stat info {};
  ASSERT_EQ(stat(ProcFile(pid, "environ").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 0u) << "/proc/PID/environ owned by the job's user: it is dumpable";

  // The environment: only root may read it; what it shows has no K0 any more.
  std::optional<std::string> environ = ReadProc(ProcFile(pid, "environ"));
  if (geteuid() != 0) {
    EXPECT_FALSE(environ.has_value()) << "its own user could read the job's environment";
  } else {
    ASSERT_TRUE(environ.has_value()) << "root could not read /proc/PID/environ";
    EXPECT_NE(environ->find("PATH="), std::string::npos) << "not the job's environment";
    EXPECT_NE(environ->find("UDMG_SECURITY_PASSPHRASE_KEY="), std::string::npos)
        << "the variable's name stays in the block; its value is wiped";
    EXPECT_EQ(Lower(*environ).find(k0), std::string::npos) << "K0 in /proc/PID/environ";
    EXPECT_EQ(Lower(*environ).find(new_key), std::string::npos) << "new key in /proc/PID/environ";
  }

  // SIGTERM: the job stops at a batch boundary and returns through main (exit 10).
  ASSERT_TRUE(job->Kill(SIGTERM));
  ProcessResult result = job->Wait();
  EXPECT_TRUE(result.Exited(10)) << result.Describe();
  EXPECT_EQ(result.term_signal, 0);
}

INSTANTIATE_TEST_SUITE_P(Sources, ProcessHygieneTest,
                         ::testing::Values(NewKeySource::kFile, NewKeySource::kStdin,
                                           NewKeySource::kArgument),
                         [](const ::testing::TestParamInfo<NewKeySource>& info) {
                           switch (info.param) {
                             case NewKeySource::kFile: return "KeyFile";
                             case NewKeySource::kStdin: return "Stdin";
                             case NewKeySource::kArgument: return "Argument";
                           }
                           return "";
                         });

}  // namespace
}  // namespace udmg::testing
