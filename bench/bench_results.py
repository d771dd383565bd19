"""The summary table of the runs scripts/bench.sh (sqlite) or scripts/bench-postgres.sh (postgresql)
collected, in Markdown on stdout:

    bench_results.py sqlite|postgresql RESULTS

RESULTS holds one JSON object a line, each with the dataset's "size", the run's "mode" and its
measurements; each figure is the median over a mode's runs at a size."""
import json
import statistics
import sys


class Runs:
    def __init__(self, path):
        with open(path) as lines:
            runs = [json.loads(line) for line in lines]
        self._by_size_and_mode = {}
        for run in runs:
            self._by_size_and_mode.setdefault((run["size"], run["mode"]), []).append(run)

    def sizes(self):
        return sorted({size for (size, _) in self._by_size_and_mode})

    def modes(self, size):
        return {mode for (s, mode) in self._by_size_and_mode if s == size}

    def median(self, size, mode, key):
        """The median of `key` over the runs of `mode` at `size`; None when there were none."""
        runs = self._by_size_and_mode.get((size, mode))
        return statistics.median(r[key] for r in runs) if runs else None


def print_sqlite_table(results):
    median = results.median
    sizes = results.sizes()
    names = {"pipeline": "pipeline (oneTBB flow graph)", "naive": "(a) naive, row by row, autocommit",
             "naive-tx": "(a') naive, row by row, one transaction",
             "rewrite": "(b) no-crypto client rewrite", "sql": "(c) in-database UPDATE"}
    print("| rows | mode | seconds | CPU s | rows/s | peak RSS MiB | pipeline time / this |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in sizes:
        p = median(size, "pipeline", "seconds")
        for mode in ["pipeline", "naive", "naive-tx", "rewrite", "sql"]:
            s = median(size, mode, "seconds")
            if s is None: continue
            rss = median(size, mode, "peak_rss_kib") / 1024
            ratio = f"{p / s:.2f}x" if p and mode != "pipeline" else ""
            cpu = median(size, mode, "cpu_seconds")
            print(f"| {size:,} | {names[mode]} | {s:.3f} | {cpu:.2f} | {size / s:,.0f} | {rss:.1f} | {ratio} |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        a, b = median(lo, "pipeline", "peak_rss_kib"), median(hi, "pipeline", "peak_rss_kib")
        if a and b:
            print(f"\npipeline peak RSS at {hi:,} rows / at {lo:,} rows: {b / a:.3f} (target <= 1.10)")


def print_postgresql_table(results):
    median = results.median
    def name(mode):
        if mode == "pipeline": return "pipeline, 1 connection (one `reencrypt` job)"
        if mode.startswith("pipeline-"):
            n = mode[len("pipeline-"):]
            return f"pipeline, {n} connections ({n} `reencrypt --shared` processes)"
        return {"naive": "(a) naive, row by row, autocommit CAS",
                "naive-tx": "(a') naive, row by row, one transaction",
                "rewrite": "(b) no-crypto client rewrite (Store, same batches)",
                "sql": "(c) in-database rewrite `secret || ''`",
                "pgcrypto": "pgcrypto in-database re-encryption"}[mode]
    order = lambda m: (0, int(m.split("-")[1]) if "-" in m else 1) if m.startswith("pipeline") else \
        (1, ["rewrite", "naive-tx", "naive", "sql", "pgcrypto"].index(m))
    # Each mode's time over the fair naive loop (a'), the no-crypto client rewrite (b), the
    # in-database rewrite (c) and the pgcrypto peer.
    print("| rows | mode | seconds | client CPU s | rows/s | time / (a') | time / (b) | time / (c) | "
          "time / pgcrypto | client peak RSS MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in results.sizes():
        bases = [median(size, m, "seconds") for m in ("naive-tx", "rewrite", "sql", "pgcrypto")]
        for mode in sorted(results.modes(size), key=order):
            s = median(size, mode, "seconds")
            rss = median(size, mode, "peak_rss_kib") / 1024
            cpu = median(size, mode, "cpu_seconds")
            ratios = " | ".join(f"{s / b:.2f}x" if b else "" for b in bases)
            print(f"| {size:,} | {name(mode)} | {s:.3f} | {cpu:.2f} | {size / s:,.0f} | {ratios} "
                  f"| {rss:.1f} |")


if __name__ == "__main__":
    tables = {"sqlite": print_sqlite_table, "postgresql": print_postgresql_table}
    tables[sys.argv[1]](Runs(sys.argv[2]))
