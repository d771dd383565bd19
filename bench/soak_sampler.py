#!/usr/bin/env python3
"""Soak sampler (run by scripts/soak.sh, figures in docs/performance.md).

  soak_sampler.py run --rows N --samples FILE [--interval S] -- udmg-server ... --metrics-listen 127.0.0.1:0
      starts the command, reads the metrics address it prints on stderr, and every S seconds
      (default 1) appends one JSON line to FILE: t (seconds since start), rss_kib and hwm_kib
      (VmRSS, VmHWM from /proc/PID/status), migrated (udmg_reencrypt_rows_total{result="migrated"}
      summed over columns, None when the scrape failed). At the end prints one JSON summary line
      on stdout; exits with the command's status.
  soak_sampler.py report SUMMARY_FILE...
      a Markdown table of the summaries and, per backend, peak RSS(largest)/peak RSS(smallest)
      with PASS/FAIL against 1.10.

The peak RSS of the summary is the kernel's ru_maxrss of the child (wait4), so it does not depend
on the sampling; the samples show how RSS moved over time.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

MIGRATED = re.compile(r'^udmg_reencrypt_rows_total\{[^}]*result="migrated"[^}]*\}\s+(\S+)', re.M)
LISTENING = re.compile(r"metrics: listening on (http://\S+/metrics)")
RSS_TARGET = 1.10


def read_status(pid):
    """VmRSS and VmHWM in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def scrape_migrated(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return int(sum(float(v) for v in MIGRATED.findall(text)))


def forward_stderr(stream, found):
    """Copies the child's stderr to ours and remembers the metrics URL it announces."""
    for line in stream:
        sys.stderr.write(line)
        match = LISTENING.search(line)
        if match:
            found["url"] = match.group(1)


def rate_windows(samples, width):
    """Rows/s in consecutive windows of `width` seconds: (start, rows_per_second, full)."""
    points = [(s["t"], s["migrated"]) for s in samples if s["migrated"] is not None]
    if len(points) < 2:
        return []
    end = points[-1][0]
    windows = []
    start = 0.0
    while start < end:
        inside = [p for p in points if start <= p[0] <= start + width]
        before = [p for p in points if p[0] <= start]
        first = before[-1] if before else (inside[0] if inside else None)
        last = inside[-1] if inside else None
        if first and last and last[0] > first[0]:
            full = start + width <= end
            windows.append((start, (last[1] - first[1]) / (last[0] - first[0]), full))
        start += width
    return windows


def rss_at_progress(samples, rows):
    """VmRSS at the first sample at or past 25/50/75/100 % of the rows migrated."""
    result = {}
    for share in (25, 50, 75, 100):
        hit = next((s for s in samples
                    if s["migrated"] is not None and s["migrated"] >= rows * share / 100), None)
        result[str(share)] = hit["rss_kib"] if hit else None
    return result


def summarize(samples, rows, seconds, peak_kib, status):
    migrated = max([s["migrated"] for s in samples if s["migrated"] is not None], default=0)
    windows_60 = rate_windows(samples, 60)
    full_60 = [r for _, r, full in windows_60 if full]
    summary = {
        "rows": rows, "seconds": round(seconds, 3), "exit_status": status,
        "mean_rows_per_second": round(rows / seconds) if seconds else None,
        "peak_rss_kib": peak_kib, "last_scraped_migrated": migrated, "samples": len(samples),
        "rss_kib_at_progress": rss_at_progress(samples, rows),
        "rows_per_second_per_60s": [round(r) for _, r, _ in windows_60],
        "min_rows_per_second_60s": round(min(full_60)) if full_60 else None,
        "max_rows_per_second_60s": round(max(full_60)) if full_60 else None,
    }
    if seconds < 300:  # short runs: a finer view too
        summary["rows_per_second_per_10s"] = [round(r) for _, r, _ in rate_windows(samples, 10)]
    return summary


def reap_until(pid, deadline):
    """Waits until `deadline` (monotonic) or the child's exit, whichever is first: (wait status,
    rusage) once it exited, None at the deadline. Popen.poll() would reap it and lose the rusage."""
    while True:
        reaped, wait_status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return wait_status, usage
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))


def run(args):
    rows, samples_path, interval = None, None, 1.0
    while args and args[0] != "--":
        flag, value, args = args[0], args[1], args[2:]
        if flag == "--rows":
            rows = int(value)
        elif flag == "--samples":
            samples_path = value
        elif flag == "--interval":
            interval = float(value)
        else:
            sys.exit(f"soak_sampler.py: unknown option {flag}")
    command = args[1:]
    if rows is None or samples_path is None or not command:
        sys.exit("usage: soak_sampler.py run --rows N --samples FILE [--interval S] -- COMMAND...")

    start = time.monotonic()
    # The child's stdout (its report) goes to our stderr: our stdout is the summary line.
    child = subprocess.Popen(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    found = {}
    reader = threading.Thread(target=forward_stderr, args=(child.stderr, found), daemon=True)
    reader.start()
    samples = []
    with open(samples_path, "w") as out:
        while (done := reap_until(child.pid, start + len(samples) * interval)) is None:
            status = read_status(child.pid)
            if status is None:  # exiting (a zombie has no VmRSS): reap it next
                continue
            sample = {"t": round(time.monotonic() - start, 3), "rss_kib": status[0],
                      "hwm_kib": status[1],
                      "migrated": scrape_migrated(found["url"]) if "url" in found else None}
            samples.append(sample)
            out.write(json.dumps(sample) + "\n")
            out.flush()
    wait_status, usage = done
    seconds = time.monotonic() - start
    reader.join(timeout=5)
    exit_status = os.waitstatus_to_exitcode(wait_status)
    print(json.dumps(summarize(samples, rows, seconds, usage.ru_maxrss, exit_status)))
    return exit_status


def report(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            runs += [json.loads(line) for line in f if line.strip()]
    print("| backend | rows | seconds | mean rows/s | rows/s per 60 s min / max | peak RSS MiB "
          "| RSS MiB at 25/50/75/100 % | verify |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    mib = lambda kib: f"{kib / 1024:.1f}" if kib else "–"
    for r in runs:
        per_min = (f"{r['min_rows_per_second_60s']:,} / {r['max_rows_per_second_60s']:,}"
                   if r["min_rows_per_second_60s"] else "(shorter than 60 s)")
        at = " / ".join(mib(r["rss_kib_at_progress"][k]) for k in ("25", "50", "75", "100"))
        print(f"| {r['backend']} | {r['rows']:,} | {r['seconds']:.1f} | "
              f"{r['mean_rows_per_second']:,} | {per_min} | {mib(r['peak_rss_kib'])} | {at} | "
              f"{r['verify']} |")
    failed = False
    for backend in sorted({r["backend"] for r in runs}):
        mine = sorted((r for r in runs if r["backend"] == backend), key=lambda r: r["rows"])
        if len(mine) < 2:
            continue
        lo, hi = mine[0], mine[-1]
        ratio = hi["peak_rss_kib"] / lo["peak_rss_kib"]
        verdict = "PASS" if ratio <= RSS_TARGET else "FAIL"
        failed |= verdict == "FAIL"
        print(f"\n{backend}: peak RSS at {hi['rows']:,} rows / at {lo['rows']:,} rows = "
              f"{ratio:.3f} (target <= {RSS_TARGET:.2f}): {verdict}")
    return 1 if failed else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        return run(sys.argv[2:])
    if len(sys.argv) >= 3 and sys.argv[1] == "report":
        return report(sys.argv[2:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
