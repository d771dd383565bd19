#!/usr/bin/env python3
"""Fails when a ctest log shows a key (no key in any output or log of the test suite).

    scripts/check-test-log.py BUILD_DIR

The keys looked for are every 64-hex-digit literal in tests/ (K0s and new keys the tests hard-code;
fingerprints are 32 hex digits and never match), in lowercase hex and in their base64url and
standard base64 forms (the Fernet key), the padding left off. The log is BUILD_DIR's
Testing/Temporary/LastTest.log, written by the ctest run just before. Keys the tests make at run
time (RandomKeyHex) are checked by the e2e runner on every run of the binary (cli_runner.h).
"""
import base64
import pathlib
import re
import sys

HEX_KEY = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")


def keys_in(tests_dir):
    found = {}
    for path in sorted(tests_dir.rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(errors="ignore")
        except OSError:
            continue
        for match in HEX_KEY.finditer(text):
            found.setdefault(match.group(0).lower(), path.relative_to(tests_dir.parent))
    return found


def forms(key_hex):
    raw = bytes.fromhex(key_hex)
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    plain = base64.b64encode(raw).decode().rstrip("=")
    found = [("hex", key_hex, True), ("base64url", url, False)]
    return found + ([("base64", plain, False)] if plain != url else [])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = pathlib.Path(__file__).resolve().parent.parent
    log_path = pathlib.Path(sys.argv[1]) / "Testing" / "Temporary" / "LastTest.log"
    if not log_path.is_file():
        sys.exit(f"check-test-log: {log_path} does not exist: run ctest in {sys.argv[1]} first")
    log = log_path.read_text(errors="replace")
    log_lower = log.lower()
    leaks = []
    keys = keys_in(root / "tests")
    for key_hex, source in keys.items():
        for kind, text, case_blind in forms(key_hex):
            if (text in log_lower) if case_blind else (text in log):
                leaks.append(f"{kind} form of the key in {source} appears in {log_path}")
    for leak in leaks:
        print(f"check-test-log: {leak}", file=sys.stderr)
    if leaks:
        sys.exit(1)
    print(f"check-test-log: {len(keys)} test keys, none in {log_path}")


if __name__ == "__main__":
    main()
