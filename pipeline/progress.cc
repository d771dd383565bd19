#include "pipeline/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace udmg::pipeline {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string PercentText(const ProgressFigures& s) {
  if (s.total == 0) return "";
  double percent = 100.0 * static_cast<double>(std::min(s.done, s.total)) / s.total;
  return Format("%.1f%%", std::floor(percent * 10) / 10);  // never shows 100.0% early
}

std::string EtaText(const ProgressFigures& s) {
  return s.eta_seconds ? FormatDuration(*s.eta_seconds) : "?";
}

std::string DoneText(const ProgressFigures& s) {
  return FormatCount(s.done) + "/" + (s.total ? FormatCount(s.total) : "?") + " rows";
}

// What the terminal line and the log line both say after the rows done, each part after
// `separator`: the rate, the ETA, the throttled time, a pause (`paused_word`), a hold, a lock wait.
std::string RateAndStateText(const ProgressFigures& s, std::string_view separator,
                             std::string_view paused_word) {
  const std::string sep(separator);
  std::string text =
      sep + FormatCount(static_cast<uint64_t>(std::llround(s.rows_per_second))) + " rows/s";
  text += sep + "ETA " + EtaText(s);
  text += sep + "throttled " + Format("%.1fs", s.throttled_seconds);
  if (s.paused) text += sep + std::string(paused_word);
  if (s.hold) text += sep + "paused: " + *s.hold;
  if (s.lock_wait) {
    text += sep + DescribeLockWait(s.lock_wait->blocking_pids, s.lock_wait->waited_seconds);
  }
  return text;
}

}  // namespace

ProgressTracker::ProgressTracker(Clock& clock, uint64_t total, uint64_t already_done)
    : clock_(clock), started_(clock.Now()), already_done_(already_done), total_(total) {}

void ProgressTracker::SetTotal(uint64_t total) { total_.store(total); }

void ProgressTracker::AddDone(uint64_t rows) { done_this_run_.fetch_add(rows); }

void ProgressTracker::Update(uint64_t done_this_run, uint64_t total) {
  done_this_run_.store(done_this_run);
  total_.store(total);
}

ProgressFigures ProgressTracker::Snapshot(const Throttle* throttle) const {
  ProgressFigures s;
  uint64_t this_run = done_this_run_.load();
  s.done = already_done_ + this_run;
  s.total = total_.load();
  s.elapsed_seconds = Seconds(clock_.Now() - started_);
  if (s.elapsed_seconds > 0) s.rows_per_second = this_run / s.elapsed_seconds;
  // Before 1% the rate says little about the rest (warm-up, caches): no ETA yet.
  bool one_percent_done = s.total > 0 && s.done * 100 >= s.total;
  if (one_percent_done && s.rows_per_second > 0) {
    uint64_t remaining = s.total > s.done ? s.total - s.done : 0;
    s.eta_seconds = remaining / s.rows_per_second;
  }
  if (throttle) {
    ThrottleStats stats = throttle->Stats();
    s.throttled_seconds = stats.total_throttled_seconds();
    s.paused = stats.paused;
    s.hold = stats.hold;
  }
  if (const LockWaitBoard* board = lock_waits_.load()) s.lock_wait = board->Get();
  return s;
}

std::string FormatCount(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<uint64_t>(std::llround(seconds));
  char buffer[48];
  if (total < 60) {
    std::snprintf(buffer, sizeof buffer, "%llus", static_cast<unsigned long long>(total));
  } else if (total < 3600) {
    std::snprintf(buffer, sizeof buffer, "%llum%02llus", static_cast<unsigned long long>(total / 60),
                  static_cast<unsigned long long>(total % 60));
  } else if (total < 86400) {
    std::snprintf(buffer, sizeof buffer, "%lluh%02llum",
                  static_cast<unsigned long long>(total / 3600),
                  static_cast<unsigned long long>(total % 3600 / 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%llud%02lluh",
                  static_cast<unsigned long long>(total / 86400),
                  static_cast<unsigned long long>(total % 86400 / 3600));
  }
  return buffer;
}

std::string FormatProgressLine(const ProgressFigures& s) {
  std::string line = DoneText(s);
  if (s.total) line += " " + PercentText(s);
  return line + RateAndStateText(s, " | ", "PAUSED");
}

std::string FormatProgressLogLine(const ProgressFigures& s, std::string_view job_kind) {
  std::string line =
      std::string(job_kind) + ": [" + FormatDuration(s.elapsed_seconds) + "] " + DoneText(s);
  if (s.total) line += " (" + PercentText(s) + ")";
  return line + RateAndStateText(s, ", ", "paused");
}

ProgressReporter::ProgressReporter(const ProgressTracker& tracker, const Throttle* throttle,
                                   std::FILE* out, Clock& clock, ProgressReporterOptions options)
    : tracker_(tracker), throttle_(throttle), out_(out), clock_(clock), options_(options) {}

ProgressReporter::~ProgressReporter() {
  {
    base::MutexLock lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void ProgressReporter::WriteLine(const ProgressFigures& snapshot) {
  if (options_.terminal) {
    // Rewrite in place; pad with spaces to wipe what is left of a longer previous line.
    std::string line = FormatProgressLine(snapshot);
    size_t width = line.size();
    if (width < last_line_width_) line.append(last_line_width_ - width, ' ');
    last_line_width_ = width;
    std::fprintf(out_, "\r%s", line.c_str());
  } else if (options_.log_line) {
    options_.log_line(FormatProgressLogLine(snapshot, options_.job_kind));
    return;
  } else {
    std::fprintf(out_, "%s\n", FormatProgressLogLine(snapshot, options_.job_kind).c_str());
  }
  std::fflush(out_);
}

bool ProgressReporter::Tick() {
  base::MutexLock lock(write_mutex_);
  if (finished_) return false;
  Duration now = clock_.Now();
  Duration interval = options_.terminal ? options_.terminal_interval : options_.log_interval;
  if (last_write_ && now - *last_write_ < interval) return false;
  // A log's first line comes after one interval: a short job prints only its final line.
  if (!last_write_ && !options_.terminal) {
    last_write_ = now;
    return false;
  }
  last_write_ = now;
  WriteLine(tracker_.Snapshot(throttle_));
  return true;
}

void ProgressReporter::Finish() {
  base::MutexLock lock(write_mutex_);
  if (finished_) return;
  finished_ = true;
  WriteLine(tracker_.Snapshot(throttle_));
  if (options_.terminal) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void ProgressReporter::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    Duration interval = options_.terminal ? options_.terminal_interval : options_.log_interval;
    // Wake often enough to honour the interval, rarely enough to cost nothing.
    auto step = std::min<Duration>(interval, std::chrono::milliseconds(250));
    stop_mutex_.Lock();
    while (!stop_) {
      stop_mutex_.Unlock();
      Tick();
      stop_mutex_.Lock();
      // A wake-up before the step (spurious or a Stop) only ticks early: Tick keeps the interval.
      if (!stop_) stop_cv_.WaitFor(stop_mutex_, step);
    }
    stop_mutex_.Unlock();
  });
}

void ProgressReporter::Stop() {
  {
    base::MutexLock lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  Finish();
}

ReencryptHooks MakeReencryptHooks(Throttle* throttle, ProgressTracker* progress,
                                  const std::atomic<bool>* stop) {
  ReencryptHooks hooks;
  if (throttle) {
    hooks.before_fetch = [throttle, stop](size_t, const StopCheck& must_stop) {
      return throttle->AdmitNextBatch(
          [&] { return (stop && stop->load()) || (must_stop && must_stop()); });
    };
    hooks.after_commit = [throttle](const BatchCommitted& batch) {
      throttle->RecordBatchWrite(batch.rows, batch.write_time);
    };
  }
  if (progress) {
    hooks.on_progress = [progress](const ProgressSnapshot& snapshot) {
      progress->Update(snapshot.done, snapshot.total);
    };
  }
  return hooks;
}

}  // namespace udmg::pipeline
