#!/usr/bin/env python3
"""Fails when a test of the last ctest run was skipped and is not in ALLOWED below.

    scripts/check-skips.py BUILD_DIR

ctest counts a GoogleTest GTEST_SKIP as a pass, so a test that skips where the thing it exists to
catch goes wrong (a missing tool, an unreachable server) would pass CI silently. The log read is
BUILD_DIR's Testing/Temporary/LastTest.log, written by the ctest run just before; a test is skipped
when its output has a line starting with "[  SKIPPED ]".
"""
import pathlib
import re
import sys

# Skips CI accepts, one regular expression on the ctest test name each, with the reason.
# scripts/test.sh sets UDMG_REQUIRE_POSTGRES, UDMG_REQUIRE_METRICS_TOOLS and UDMG_REQUIRE_PYTHON,
# so no test has a reason to skip there today: the list is empty on purpose.
ALLOWED = [
    # (r"^Suite\.Name$", "why this skip cannot hide a defect"),
]

TEST_START = re.compile(r"^\d+/\d+ Test: (.+)$")
SKIPPED = re.compile(r"^\[  SKIPPED \] ")


def skipped_tests(log_text):
    skipped, current = [], None
    for line in log_text.splitlines():
        start = TEST_START.match(line)
        if start:
            current = start.group(1)
        elif current and SKIPPED.match(line):
            skipped.append(current)
            current = None  # counted once
    return skipped


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    log = pathlib.Path(sys.argv[1]) / "Testing" / "Temporary" / "LastTest.log"
    if not log.is_file():
        sys.exit(f"check-skips: no ctest log at {log}")
    unexpected = [name for name in skipped_tests(log.read_text(errors="replace"))
                  if not any(re.search(pattern, name) for pattern, _ in ALLOWED)]
    for name in unexpected:
        print(f"check-skips: skipped, not allowed: {name}", file=sys.stderr)
    if unexpected:
        sys.exit(f"check-skips: {len(unexpected)} test(s) skipped in {log}; make them run, or "
                 "add them to ALLOWED in scripts/check-skips.py with the reason")
    print(f"check-skips: no unexpected skip in {log}")


if __name__ == "__main__":
    main()
