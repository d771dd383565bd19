#!/usr/bin/env python3
"""Tests of bench/soak_sampler.py: the run command against a real child process and a real HTTP
/metrics endpoint, and the window and progress arithmetic of the summary."""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak_sampler  # noqa: E402

SAMPLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak_sampler.py")
METRICS = (b'udmg_reencrypt_rows_total{job="reencrypt",column="credentials.secret",'
           b'result="migrated"} 500\n'
           b'udmg_reencrypt_rows_total{job="reencrypt",column="credentials.secret",'
           b'result="conflict"} 7\n'
           b'udmg_reencrypt_rows_total{job="reencrypt",column="other.secret",'
           b'result="migrated"} 25\n')


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, *args):
        pass


class RunTest(unittest.TestCase):
    def test_samples_a_real_child_and_reports_its_peak_and_status(self):
        server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        # 64 MiB touched, then freed: VmRSS falls back, the peak (ru_maxrss) must not.
        child = ("import sys, time\n"
                 f"print('metrics: listening on {url}', file=sys.stderr, flush=True)\n"
                 "time.sleep(0.3)\n"
                 "block = bytearray(64 << 20)\n"
                 "time.sleep(0.3)\n"
                 "del block\n"
                 "time.sleep(0.3)\n"
                 "sys.exit(3)\n")
        with tempfile.TemporaryDirectory() as tmp:
            samples_path = os.path.join(tmp, "samples.jsonl")
            done = subprocess.run(
                [sys.executable, SAMPLER, "run", "--rows", "525", "--samples", samples_path,
                 "--interval", "0.1", "--", sys.executable, "-c", child],
                capture_output=True, text=True, timeout=60)
            with open(samples_path) as f:
                samples = [json.loads(line) for line in f]
        server.shutdown()
        server.server_close()
        self.assertEqual(done.returncode, 3, done.stderr)
        summary = json.loads(done.stdout)
        self.assertEqual(summary["exit_status"], 3)
        self.assertGreaterEqual(summary["peak_rss_kib"], 64 << 10)
        self.assertGreaterEqual(len(samples), 5)
        self.assertLess(samples[-1]["rss_kib"], 64 << 10)
        self.assertGreaterEqual(max(s["hwm_kib"] for s in samples), 64 << 10)
        # Migrated rows of every column, not the conflicts.
        self.assertEqual(summary["last_scraped_migrated"], 525)
        self.assertEqual(summary["rss_kib_at_progress"]["100"], next(
            s["rss_kib"] for s in samples if s["migrated"] == 525))

    def test_refuses_a_run_without_rows(self):
        done = subprocess.run([sys.executable, SAMPLER, "run", "--samples", "/dev/null", "--",
                               "true"], capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("usage", done.stderr)


def linear(rate, seconds, step=1.0):
    return [{"t": i * step, "rss_kib": 100 + i, "migrated": int(rate * i * step)}
            for i in range(int(seconds / step) + 1)]


class SummaryTest(unittest.TestCase):
    def test_rate_windows_are_per_window_and_mark_the_partial_last_one(self):
        samples = linear(100, 130)
        samples[70:] = [dict(s, migrated=s["migrated"] + 60 * (s["t"] - 69)) for s in samples[70:]]
        windows = soak_sampler.rate_windows(samples, 60)
        self.assertEqual([w[0] for w in windows], [0, 60, 120])
        self.assertAlmostEqual(windows[0][1], 100)
        self.assertAlmostEqual(windows[1][1], 100 + 60 * 51 / 60)  # faster from t = 70
        self.assertEqual([w[2] for w in windows], [True, True, False])

    def test_rate_windows_skip_failed_scrapes(self):
        samples = linear(50, 20)
        for s in samples[5:15]:
            s["migrated"] = None
        self.assertAlmostEqual(soak_sampler.rate_windows(samples, 10)[0][1], 50)

    def test_rss_at_progress_takes_the_first_sample_past_each_quarter(self):
        samples = linear(10, 100)  # 1000 rows, 10 per second, rss 100 + t
        self.assertEqual(soak_sampler.rss_at_progress(samples, 1000),
                         {"25": 125, "50": 150, "75": 175, "100": 200})
        self.assertEqual(soak_sampler.rss_at_progress(samples, 2000)["100"], None)

    def test_report_fails_when_memory_grows_more_than_ten_percent(self):
        def summary(rows, peak):
            return json.dumps({"backend": "sqlite", "verify": "PASS", "rows": rows,
                               "seconds": 1.0, "mean_rows_per_second": rows, "peak_rss_kib": peak,
                               "rss_kib_at_progress": {"25": 1, "50": 1, "75": 1, "100": 1},
                               "min_rows_per_second_60s": None})
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(summary(10, 1000) + "\n" + summary(100, 1100) + "\n")
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                self.assertEqual(soak_sampler.report([f.name]), 0)
                with open(f.name, "a") as more:
                    more.write(summary(1000, 1101) + "\n")
                self.assertEqual(soak_sampler.report([f.name]), 1)
            finally:
                sys.stdout = stdout
                os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
