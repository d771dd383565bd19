#include "cli/metrics_outputs.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <system_error>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "cli/duration.h"
#include "cli/output.h"
#include "cli/secure_file.h"
#include "metrics/text_serializer.h"
#include "metrics/textfile.h"

namespace udmg::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kJsonContentType[] = "application/json";

metrics::HttpReply JsonReply(int status, std::string body) {
  return metrics::HttpReply{status, kJsonContentType, std::move(body) + "\n"};
}

// {"ok":false,"error":"..."}, as pipeline/control.h replies; `message` holds no quote or
// backslash (fixed texts).
metrics::HttpReply Unavailable(const std::string& message) {
  return JsonReply(503, "{\"ok\":false,\"error\":\"" + message + "\"}");
}

// The bearer token of --control-token-file: one line of printable ASCII without spaces (what an
// Authorization header can carry), at most 4 KiB, in a file only its owner can read.
Result<SecretBytes> ReadControlToken(const std::string& path) {
  constexpr size_t kMaxTokenBytes = 4096;
  UDMG_ASSIGN_OR_RETURN(ScopedFd file,
                        OpenSecretFile(path, "--control-token-file", ErrorCode::kBadInput));
  const std::string what = "--control-token-file " + path;
  std::optional<SecretBytes> token = ReadSecretUpTo(file.get(), kMaxTokenBytes + 2);
  if (!token) {
    return Error{ErrorCode::kBadInput, what + " could not be read: " + std::strerror(errno)};
  }
  if (!token->empty() && token->back() == '\n') token->pop_back();
  if (!token->empty() && token->back() == '\r') token->pop_back();
  if (token->empty() || token->size() > kMaxTokenBytes) {
    return Error{ErrorCode::kBadInput, what + " must hold one token of 1 to " +
                                           std::to_string(kMaxTokenBytes) + " characters"};
  }
  for (uint8_t byte : *token) {
    if (byte <= 0x20 || byte >= 0x7f) {
      return Error{ErrorCode::kBadInput,
                   what + " must hold one line of printable ASCII without spaces (e.g. `openssl "
                          "rand -hex 32`)"};
    }
  }
  return std::move(*token);
}

metrics::HttpReply JsonRefusal(int status, const std::string& message) {
  return JsonReply(status, nlohmann::json{{"ok", false}, {"error", message}}.dump());
}

// The command line a control route stands for: "rate" or, with ?value=N, "rate=N".
std::string CommandWithValue(const std::string& verb, const metrics::QueryParams& params) {
  auto value = params.find("value");
  return value == params.end() ? verb : verb + "=" + value->second;
}

// Set by SIGINT/SIGTERM while the listener lingers (a lock-free store is async-signal-safe).
std::atomic<bool> g_linger_ended{false};
extern "C" void EndLinger(int) { g_linger_ended.store(true); }

}  // namespace

void AddMetricsFlags(CLI::App* command, MetricsFlags& flags) {
  command->add_option("--metrics-listen", flags.listen,
                      "serve Prometheus metrics (GET /metrics) and HTTP control (/control/...) "
                      "on ADDR:PORT while the job runs; port 0 picks a free one");
  command->add_option("--metrics-textfile", flags.textfile,
                      "at the end, write the metrics as a node_exporter textfile to PATH "
                      "(atomically, mode 0644)");
  command->add_option("--pushgateway", flags.pushgateway,
                      "at the end, push the metrics to this Pushgateway URL (http://HOST:PORT); "
                      "a failed push is a warning");
  command->add_option("--control-token-file", flags.control_token_file,
                      "with --metrics-listen: the /control/... routes need `Authorization: Bearer "
                      "TOKEN`, TOKEN being this file's one line (mode 0600)");
  command->add_option("--metrics-linger", flags.linger,
                      "with --metrics-listen: keep serving the final metrics this long after the "
                      "job ends, so that a scrape sees how it ended (default 30s; 0 = off; "
                      "SIGINT/SIGTERM end it)");
}

Status CheckTextfilePath(const std::string& path, std::string_view flag) {
  const std::string what = std::string(flag) + " " + path + ": ";
  if (path.empty()) return Status(ErrorCode::kBadInput, std::string(flag) + " needs a file path");
  fs::path file(path);
  fs::path directory = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code error;
  if (fs::is_directory(file, error)) {
    return Status(ErrorCode::kBadInput, what + "is a directory: give a file path such as "
                                               "/var/lib/node_exporter/textfile/udmg.prom");
  }
  if (!fs::is_directory(directory, error)) {
    return Status(ErrorCode::kBadInput, what + "the directory " + directory.string() +
                                            " does not exist: create it or give another path");
  }
  // The file is written as a temp file in the same directory, then renamed over PATH.
  if (access(directory.c_str(), W_OK | X_OK) != 0) {
    return Status(ErrorCode::kBadInput, what + "the directory " + directory.string() +
                                            " is not writable by this user: fix its "
                                            "permissions or give another path");
  }
  return Status::Ok();
}

MetricsOutputs::MetricsOutputs(std::string job_kind, std::optional<std::string> textfile)
    : job_kind_(std::move(job_kind)),
      textfile_(std::move(textfile)),
      registry_(std::make_shared<metrics::Registry>()),
      key_state_(std::make_shared<pipeline::KeyStateCollector>()) {}

MetricsOutputs::~MetricsOutputs() {
  Detach();
  if (exposer_) exposer_->Stop();
}

Result<std::unique_ptr<MetricsOutputs>> MetricsOutputs::Start(const MetricsFlags& flags,
                                                              std::string job_kind) {
  // Everything is checked before anything binds or writes.
  if (flags.listen) {
    Result<metrics::ListenAddress> address = metrics::ParseListenAddress(*flags.listen);
    if (!address.ok()) {
      return Error{address.error().code, "--metrics-listen: " + address.error().message};
    }
  }
  if (flags.textfile) {
    UDMG_RETURN_IF_ERROR(CheckTextfilePath(*flags.textfile, "--metrics-textfile"));
  }
  std::unique_ptr<MetricsOutputs> outputs(new MetricsOutputs(job_kind, flags.textfile));
  if (flags.linger) {
    if (!flags.listen) {
      return Error{ErrorCode::kUsage,
                   "--metrics-linger keeps the --metrics-listen listener open: it needs "
                   "--metrics-listen"};
    }
    Result<std::chrono::seconds> linger = ParseDuration(*flags.linger);
    if (!linger.ok()) return Error{ErrorCode::kBadInput, "--metrics-linger: " + linger.error().message};
    outputs->linger_ = *linger;
  } else if (flags.listen) {
    outputs->linger_ = kDefaultMetricsLinger;
  }
  if (flags.control_token_file) {
    if (!flags.listen) {
      return Error{ErrorCode::kUsage,
                   "--control-token-file guards the HTTP control routes: it needs --metrics-listen"};
    }
    UDMG_ASSIGN_OR_RETURN(outputs->control_token_, ReadControlToken(*flags.control_token_file));
  }
  if (flags.pushgateway) {
    auto gateway = metrics::Gateway::Create(*flags.pushgateway, "udmg_" + job_kind,
                                            metrics::Gateway::GetInstanceLabel(
                                                metrics::Gateway::Hostname()));
    if (!gateway.ok()) {
      return Error{ErrorCode::kBadInput, "--pushgateway: " + gateway.error().message};
    }
    outputs->gateway_ = std::move(*gateway);
    outputs->gateway_->RegisterCollectable(outputs->registry_);
    outputs->gateway_->RegisterCollectable(outputs->key_state_);
  }
  if (flags.listen) {
    auto exposer = metrics::Exposer::Start(*flags.listen);
    if (!exposer.ok()) {
      return Error{exposer.error().code, "--metrics-listen: " + exposer.error().message};
    }
    outputs->exposer_ = std::move(*exposer);
    outputs->exposer_->RegisterCollectable(outputs->registry_);
    outputs->exposer_->RegisterCollectable(outputs->key_state_);
    outputs->AddControlRoutes();
    // Exactly this line (the message of a JSON log line): scripts and tests read the port from it.
    PrintNotice("metrics: listening on " + outputs->exposer_->MetricsUrl());
  }
  return outputs;
}

void MetricsOutputs::AddControlRoutes() {
  auto route = [this](const std::string& method, const std::string& verb, bool takes_value) {
    exposer_->AddHandler(method, "/control/" + verb,
                         [this, verb, takes_value](const metrics::HttpRequest& request) {
                           if (auto refused = Refusal(request)) return *refused;
                           return Control(takes_value ? CommandWithValue(verb, request.params)
                                                      : verb);
                         });
  };
  route("GET", "status", false);
  route("POST", "pause", false);
  route("POST", "resume", false);
  route("GET", "rate", false);
  route("POST", "rate", true);
  route("GET", "batch-size", false);
  route("POST", "batch-size", true);
}

std::optional<metrics::HttpReply> MetricsOutputs::Refusal(
    const metrics::HttpRequest& request) const {
  if (control_token_) {
    const std::string given = request.Header("authorization");
    constexpr std::string_view kScheme = "Bearer ";
    const bool matches = given.starts_with(kScheme) &&
                         SafeEquals(AsBytes(std::string_view(given).substr(kScheme.size())),
                                    *control_token_);
    if (!matches) {
      return JsonRefusal(401, "this job's control needs its token: send the header "
                              "`Authorization: Bearer TOKEN` with the token of "
                              "--control-token-file");
    }
  }
  if (request.method != "GET" && request.Header("x-udmg-control").empty()) {
    return JsonRefusal(403, std::string("a control request that changes the job needs the "
                                        "header `") +
                                kControlHeader + ": 1` (a web page's form cannot send it)");
  }
  return std::nullopt;
}

metrics::HttpReply MetricsOutputs::Control(const std::string& command) {
  base::MutexLock lock(mutex_);  // held while the command runs: Detach waits for it
  if (finished_) return Unavailable("the job has ended: nothing to control");
  if (control_ == nullptr) return Unavailable("the job is not running yet: retry in a moment");
  std::string reply = control_->Execute(command);
  nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
  bool ok = parsed.is_object() && parsed.value("ok", false);
  return JsonReply(ok ? 200 : 400, std::move(reply));
}

void MetricsOutputs::AttachJob(std::shared_ptr<pipeline::JobMetrics> job,
                               pipeline::ControlCommands* control) {
  base::MutexLock lock(mutex_);
  job_ = std::move(job);
  control_ = control;
  if (exposer_) exposer_->RegisterCollectable(job_);
  if (gateway_) gateway_->RegisterCollectable(job_);
}

Result<std::shared_ptr<pipeline::JobMetrics>> MetricsOutputs::StartJob(
    db::Store& store, const pipeline::Throttle* throttle, size_t batch_size,
    pipeline::ControlCommands* control) {
  RefreshKeyState(store);
  std::vector<std::string> names;
  Result<std::vector<db::ColumnRef>> columns = store.ListColumns();
  if (columns.ok()) {
    for (const db::ColumnRef& column : *columns) names.push_back(column.Name());
  }
  UDMG_ASSIGN_OR_RETURN(std::unique_ptr<pipeline::JobMetrics> created,
                        pipeline::JobMetrics::Create(*registry_, job_kind_, names, throttle,
                                                     batch_size));
  std::shared_ptr<pipeline::JobMetrics> job = std::move(created);
  // udmg_key_values moves with the job's committed batches, from its own counters.
  job->SetMigratedSink([key_state = key_state_](const std::string& column, uint64_t migrated) {
    key_state->RecordMigrated(column, migrated);
  });
  AttachJob(job, control);
  return job;
}

void MetricsOutputs::RefreshKeyState(db::Store& store) {
  Result<pipeline::KeyState> state = pipeline::ReadKeyState(store);
  if (!state.ok()) {
    PrintWarning("metrics: the key state could not be read (" + state.error().message +
                 "): the udmg_key_* series keep their previous values",
                 state.error().setting);
    return;
  }
  key_state_->Update(std::move(*state));
}

void MetricsOutputs::RecordSuccess(int64_t run_started) {
  key_state_->RecordSuccess(job_kind_, run_started, NowSeconds());
}

std::vector<metrics::MetricFamily> MetricsOutputs::CollectAll() const {
  std::vector<metrics::MetricFamily> families = registry_->Collect();
  auto add = [&families](const metrics::Collectable& collectable) {
    for (metrics::MetricFamily& family : collectable.Collect()) {
      families.push_back(std::move(family));
    }
  };
  add(*key_state_);
  base::MutexLock lock(mutex_);
  if (job_) add(*job_);
  return families;
}

void MetricsOutputs::Finish(pipeline::JobRunState state, bool may_linger) {
  {
    base::MutexLock lock(mutex_);
    if (finished_) return;
    if (job_) job_->SetState(state);
    // The job has ended: control answers 503 from now on, also while the outputs below are
    // written (a push may wait on a slow Pushgateway).
    finished_ = true;
    control_ = nullptr;
  }
  if (textfile_) {
    Status written = metrics::WriteTextfile(*textfile_, CollectAll());
    if (!written.ok()) PrintWarning("metrics: the textfile was not written: " + written.message());
  }
  if (gateway_) {
    // Add semantics: a run that did not succeed does not push a last success time, so the one
    // the Pushgateway holds from an earlier run stays.
    key_state_->SetIncludeLastSuccess(state == pipeline::JobRunState::kDone);
    Status pushed = gateway_->PushAdd();
    key_state_->SetIncludeLastSuccess(true);
    if (!pushed.ok()) {
      PrintWarning("metrics: the push to the Pushgateway failed (" + pushed.message() +
                   "); the job's own result stands",
                   pushed.setting());
    }
  }
  if (exposer_ && may_linger && linger_ > std::chrono::seconds::zero()) Linger();
  Detach();
  if (exposer_) exposer_->Stop();
}

void MetricsOutputs::Linger() {
  std::cerr << "metrics: the job has ended; its final metrics stay on " << exposer_->MetricsUrl()
            << " for " << linger_.count()
            << " s (--metrics-linger; SIGINT or SIGTERM ends this at once)" << std::endl;
  g_linger_ended.store(false);
  struct sigaction action {};
  action.sa_handler = EndLinger;
  sigemptyset(&action.sa_mask);
  struct sigaction previous_int {};
  struct sigaction previous_term {};
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
  const auto deadline = std::chrono::steady_clock::now() + linger_;
  while (!g_linger_ended.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

void MetricsOutputs::Detach() {
  base::MutexLock lock(mutex_);
  finished_ = true;
  control_ = nullptr;
  if (job_ && exposer_) exposer_->RemoveCollectable(job_);
  job_.reset();
}

JobMetricsRun::JobMetricsRun(MetricsOutputs* outputs, const std::string& database_url,
                             const pipeline::Throttle* throttle, size_t batch_size,
                             pipeline::ControlCommands* control)
    : outputs_(outputs), started_(NowSeconds()) {
  if (outputs_ == nullptr) return;
  Result<std::unique_ptr<db::Store>> store =
      db::OpenStore(database_url, db::OpenMode::kExisting);
  if (!store.ok()) {
    PrintWarning("metrics: " + store.error().message + ": the job runs without metrics",
                 store.error().setting);
    return;
  }
  store_ = std::move(*store);
  auto job = outputs_->StartJob(*store_, throttle, batch_size, control);
  if (!job.ok()) {
    PrintWarning("metrics: " + job.error().message + ": the job runs without metrics",
                 job.error().setting);
    return;
  }
  job_ = std::move(*job);
}

JobMetricsRun::~JobMetricsRun() { Finish(pipeline::JobRunState::kFailed); }

void JobMetricsRun::Instrument(pipeline::ReencryptHooks& hooks,
                               std::atomic<int64_t>*& batches_in_flight) {
  if (!job_) return;
  hooks = job_->Wrap(std::move(hooks));
  batches_in_flight = job_->batches_in_flight();
}

void JobMetricsRun::Finish(pipeline::JobRunState state, bool may_linger) {
  if (outputs_ == nullptr) return;
  if (store_) outputs_->RefreshKeyState(*store_);
  if (state == pipeline::JobRunState::kDone) outputs_->RecordSuccess(started_);
  outputs_->Finish(state, may_linger);
  outputs_ = nullptr;
}

void AddMetricsCommand(CLI::App& app, const GlobalOptions& global,
                       std::function<Status()>& action) {
  auto textfile = std::make_shared<std::optional<std::string>>();
  CLI::App* command = app.add_subcommand(
      "metrics", "print the key state for Prometheus (values per column and version, active "
                 "versions, last success per job kind); needs no key");
  command->add_option("--textfile", *textfile,
                      "write it as a node_exporter textfile to PATH instead (atomically)");
  command->callback([&, textfile] {
    action = [&, textfile]() -> Status {
      if (*textfile) UDMG_RETURN_IF_ERROR(CheckTextfilePath(**textfile, "--textfile"));
      UDMG_ASSIGN_OR_RETURN(auto store, OpenMigratedStore(global));
      UDMG_ASSIGN_OR_RETURN(std::vector<metrics::MetricFamily> families,
                            pipeline::KeyStateMetrics(*store));
      if (*textfile) return metrics::WriteTextfile(**textfile, families);
      std::cout << metrics::TextSerializer().Serialize(families);
      return Status::Ok();
    };
  });
}

}  // namespace udmg::cli
