#!/usr/bin/env python3
"""Test of bench/python_peer.py: on a 2,000-row SQLite benchmark dataset of each value mix, the
peer re-encrypts every row, `udmg-reencrypt-bench verify` finds every row under version 2 with its
plaintext, and a second run finds nothing left to do.

    python_peer_test.py UDMG_REENCRYPT_BENCH

Imports `cryptography` first: without it the test fails (the peer cannot run), never skips."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import cryptography  # noqa: F401  (missing: a failure, not a skip)

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_peer.py")
BENCH = None
ROWS = 2000
# The benchmark's K0 (bench/e2e_dataset.cc), not a secret.
K0 = "0b5e1c7a9f3d2e4b6a8c0d1f2e3b4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c"


class PythonPeerTest(unittest.TestCase):
    def run_peer(self, db):
        env = dict(os.environ, UDMG_SECURITY_PASSPHRASE_KEY=K0)
        out = subprocess.run([sys.executable, PEER, db, "300"], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    def test_reencrypts_every_row_of_each_mix(self):
        for mix in ("uniform", "mixed"):
            with self.subTest(mix=mix), tempfile.TemporaryDirectory() as work:
                db = os.path.join(work, "peer.db")
                subprocess.run([BENCH, "--values", mix, "generate", db, str(ROWS)], check=True)
                first = self.run_peer(db)
                self.assertEqual((first["rows"], first["skipped"]), (ROWS, 0))
                subprocess.run([BENCH, "--values", mix, "verify", db, str(ROWS), "2"], check=True)
                again = self.run_peer(db)
                self.assertEqual((again["rows"], again["skipped"]), (0, 0))


if __name__ == "__main__":
    BENCH = sys.argv.pop(1)
    unittest.main()
