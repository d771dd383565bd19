"""The summary tables of the runs scripts/bench.sh (sqlite) or scripts/bench-postgres.sh
(postgresql) collected, in Markdown on stdout:

    bench_results.py sqlite|postgresql RESULTS

RESULTS holds one JSON object a line, each with the dataset's "size", its value mix "values"
(uniform when absent: runs recorded before there was a choice), the run's "mode" and its
measurements; each figure is the median over a mode's runs at a size and mix. The first table
has every mode; the second the ratios the comparison is about: the engine (the library pipeline,
and the whole `udmg-server reencrypt` command) over the floor (the minimal raw-API client without
crypto) and over the database's own rewrite, and the Python peer's time over the pipeline's (the
speed-up over the peer)."""
import json
import statistics
import sys


class Runs:
    def __init__(self, path):
        with open(path) as lines:
            runs = [json.loads(line) for line in lines if line.strip()]
        self._runs = {}
        for run in runs:
            key = (run["size"], run.get("values", "uniform"), run["mode"])
            self._runs.setdefault(key, []).append(run)

    def datasets(self):
        """(size, values) pairs, by size, uniform before mixed."""
        return sorted({(size, values) for (size, values, _) in self._runs},
                      key=lambda d: (d[0], d[1] != "uniform", d[1]))

    def modes(self, size, values):
        return {mode for (s, v, mode) in self._runs if (s, v) == (size, values)}

    def median(self, size, values, mode, key):
        """The median of `key` over the runs of `mode` on a dataset; None when there were none."""
        runs = self._runs.get((size, values, mode))
        return statistics.median(r[key] for r in runs) if runs else None


SQLITE_NAMES = {
    "pipeline": "pipeline (library, oneTBB flow graph)",
    "command": "`udmg-server reencrypt` (whole command)",
    "python": "Python peer (cryptography + sqlite3)",
    "floor": "floor: raw sqlite3 client, no crypto",
    "floor-write": "floor-write: the same, writing changed bytes",
    "rewrite": "(b) no-crypto client rewrite (Store)",
    "sql": "(c) in-database UPDATE `secret || ''`",
    "naive-tx": "(a') naive, row by row, one transaction",
    "naive": "(a) naive, row by row, autocommit",
}
POSTGRESQL_NAMES = {
    "pipeline": "pipeline, 1 connection (one `reencrypt` job)",
    "command": "`udmg-server reencrypt` (whole command)",
    "python": "Python peer (cryptography + psycopg2)",
    "floor": "floor: raw libpq, UPDATE ... FROM unnest per page",
    "floor-rows": "floor: raw libpq, prepared UPDATE per row",
    "rewrite": "(b) no-crypto client rewrite (Store, same batches)",
    "sql": "(c) in-database rewrite `secret || ''`",
    "pgcrypto": "pgcrypto in-database re-encryption",
    "naive-tx": "(a') naive, row by row, one transaction",
    "naive": "(a) naive, row by row, autocommit CAS",
}


def name_and_rank(backend, mode):
    names = SQLITE_NAMES if backend == "sqlite" else POSTGRESQL_NAMES
    order = list(names)
    if mode.startswith("pipeline-"):
        n = mode[len("pipeline-"):]
        return (f"pipeline, {n} connections ({n} `reencrypt --shared` processes)",
                (order.index("pipeline"), int(n)))
    return names.get(mode, mode), (order.index(mode) if mode in order else len(order), 0)


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else ""


def print_tables(backend, results):
    median = results.median
    bases = (["floor"] + (["floor-write"] if backend == "sqlite" else []) + ["sql", "pipeline"] +
             (["pgcrypto"] if backend == "postgresql" else []))
    print("| rows | values | mode | seconds | CPU s | rows/s | peak RSS MiB | "
          + " | ".join(f"time / {b}" for b in bases) + " |")
    print("|---:|---|---|---:|---:|---:|---:|" + "---:|" * len(bases))
    for size, values in results.datasets():
        base_seconds = [median(size, values, b, "seconds") for b in bases]
        modes = sorted(results.modes(size, values), key=lambda m: name_and_rank(backend, m)[1])
        for mode in modes:
            s = median(size, values, mode, "seconds")
            cpu = median(size, values, mode, "cpu_seconds")
            rss = median(size, values, mode, "peak_rss_kib") / 1024
            ratios = " | ".join("" if b == mode else ratio(s, t)
                                for b, t in zip(bases, base_seconds))
            print(f"| {size:,} | {values} | {name_and_rank(backend, mode)[0]} | {s:.3f} | "
                  f"{cpu:.2f} | {size / s:,.0f} | {rss:.1f} | {ratios} |")

    # The comparison: engine over floor and over the database's own rewrite, peer over engine.
    pairs = [("pipeline", "floor"), ("command", "floor")]
    if backend == "sqlite":
        pairs += [("pipeline", "floor-write"), ("command", "floor-write")]
    pairs += [("pipeline", "sql"), ("command", "sql"), ("python", "pipeline")]
    print()
    print("| rows | values | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |")
    print("|---:|---|" + "---:|" * len(pairs))
    for size, values in results.datasets():
        cells = [ratio(median(size, values, a, "seconds"), median(size, values, b, "seconds"))
                 for a, b in pairs]
        print(f"| {size:,} | {values} | " + " | ".join(cells) + " |")

    by_values = {}
    for size, values in results.datasets():
        by_values.setdefault(values, []).append(size)
    for values, sizes in by_values.items():
        if backend == "sqlite" and len(sizes) >= 2:
            lo, hi = sizes[0], sizes[-1]
            a = median(lo, values, "pipeline", "peak_rss_kib")
            b = median(hi, values, "pipeline", "peak_rss_kib")
            if a and b:
                print(f"\npipeline peak RSS ({values}) at {hi:,} rows / at {lo:,} rows: "
                      f"{b / a:.3f} (target <= 1.10)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("sqlite", "postgresql"):
        sys.exit(__doc__)
    print_tables(sys.argv[1], Runs(sys.argv[2]))
