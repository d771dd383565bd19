#!/usr/bin/env python3
"""Every command's --json document against docs/json-schema.json (docs/json.md), through the binary.

Usage: json_output_test.py UDMG_SERVER SCHEMA.json

Runs on a scratch SQLite database, and on PostgreSQL too when UDMG_TEST_POSTGRES_URL is set (a
schema of its own, dropped at the end); UDMG_REQUIRE_POSTGRES=1 makes a missing URL a failure.
Each document must validate against its $defs entry, which allows no field it does not list, so
a renamed or undocumented field fails here. --log-format json is checked on an error line and on
a job's lines.
"""
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.parse

import jsonschema

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print("FAILED: " + what)


class Runner:
    def __init__(self, binary, url, workdir):
        self.binary, self.url, self.workdir = binary, url, workdir
        self.env = dict(os.environ, UDMG_SECURITY_PASSPHRASE_KEY=secrets.token_hex(32),
                        UDMG_BACKUP_PASSPHRASE="a passphrase for the json test")
        self.env.pop("UDMG_DATABASE_URL", None)

    def run(self, *args, expect=0):
        done = subprocess.run([self.binary, "--db", self.url, *args], cwd=self.workdir,
                              env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=300)
        check(done.returncode == expect,
              f"{self.url}: {' '.join(args)}: exit {done.returncode}, expected {expect}: "
              f"{done.stderr.strip()}")
        return done


def validate(schema, name, runner, *args, expect=0):
    done = runner.run(*args, "--json", expect=expect)
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        check(False, f"{' '.join(args)} --json: not one JSON document ({error}): {done.stdout!r}")
        return None
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    for error in errors:
        check(False, f"{' '.join(args)} --json: {'/'.join(map(str, error.path))}: {error.message}")
    print(f"{runner.url}: {' '.join(args)} --json: {'ok' if not errors else 'INVALID'}")
    return document


def scenario(schema, runner):
    runner.run("init")
    runner.run("demo", "--rows", "300")
    columns = validate(schema, "columns", runner, "columns", "list")
    check(columns and columns["columns"][0]["column"] == "credentials.secret",
          "columns list --json names credentials.secret")
    validate(schema, "status", runner, "status")
    verified = validate(schema, "verify", runner, "verify")
    check(verified and verified["ok"] == 300, "verify --json counts 300 values ok")
    rotated = validate(schema, "rotation", runner, "rotate-master-key")
    check(rotated and rotated["active_master_version"] == 2 and rotated["job"] is None,
          "rotate-master-key --json: version 2 active, no job")
    swept = validate(schema, "sweep", runner, "sweep", "--max-rows", "100")
    check(swept and swept["migrated"] == 100 and swept["outcome"] == "max-rows",
          "sweep --json: 100 migrated, outcome max-rows")
    job = validate(schema, "reencrypt", runner, "reencrypt", "--no-progress")
    check(job and job["outcome"] == "done" and job["remaining"] == 0,
          "reencrypt --json: done, nothing remaining")
    new_key = os.path.join(runner.workdir, f"k0-{secrets.token_hex(4)}")
    with open(os.open(new_key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(secrets.token_hex(32))
    rotated = validate(schema, "rotation", runner, "rotate-k0", "--new-key-file", new_key)
    check(rotated and rotated["current_root_version"] == 2, "rotate-k0 --json: root version 2")
    with open(new_key) as f:
        runner.env["UDMG_SECURITY_PASSPHRASE_KEY"] = f.read()
    rotated = validate(schema, "rotation", runner, "rotate-master-key", "--reencrypt",
                       "--no-progress")
    check(rotated and rotated["job"] and rotated["job"]["outcome"] == "done",
          "rotate-master-key --reencrypt --json: its job's summary, done")
    validate(schema, "prune", runner, "prune-keys", "--dry-run")
    validate(schema, "prune", runner, "prune-keys")
    backup_path = os.path.join(runner.workdir, f"keys-{secrets.token_hex(4)}.udmgbackup")
    validate(schema, "backup", runner, "passphrase-backup", "--output", backup_path)
    validate(schema, "doctor", runner, "doctor")  # healthy once a backup is recorded
    validate(schema, "restore", runner, "passphrase-restore", "--input", backup_path,
             "--verify-only")
    # The reencrypt made 300 encryptions under master version 3: past a maximum of 100.
    runner.run("policy", "set", "--master-max-encryptions", "100", "--root-max-age", "365d")
    shown = validate(schema, "policy_show", runner, "policy", "show")
    check(shown and shown["master_key"]["due"] and not shown["root_key"]["due"]
          and shown["master_key"]["encryptions"] == 300
          and shown["policy"]["master_max_age_seconds"] is None,
          "policy show --json: the master key is due, the root key is not")
    status = validate(schema, "status", runner, "status")
    check(status and status["cryptoperiods"]["policy"] == shown["policy"]
          and status["cryptoperiods"]["overdue"],
          "status --json: the same policy, overdue")
    # init, the demo's column, a rotation, the bounded sweep's start and stop, the reencrypt's
    # start and end, two rotations (the second with its job's start and end), the pruning, the
    # backup and the policy: fourteen entries.
    listed = validate(schema, "audit_list", runner, "audit", "list")
    check(listed and [(e["command"].removeprefix("udmg-server "), e["event"])
                      for e in listed["entries"]] == [
        ("init", "keyring"), ("demo", "column-add"), ("rotate-master-key", "keyring"),
        ("sweep", "job-start"), ("sweep", "job-stop"), ("reencrypt", "job-start"),
        ("reencrypt", "job-end"), ("rotate-k0", "keyring"), ("rotate-master-key", "keyring"),
        ("rotate-master-key", "job-start"), ("rotate-master-key", "job-end"),
        ("prune-keys", "prune"), ("passphrase-backup", "backup"), ("policy set", "policy")],
          "audit list --json: the keyring, job, column, backup and policy changes, oldest first")
    audited = validate(schema, "audit_verify", runner, "audit", "verify")
    check(audited and audited["verified"] and audited["entries"] == 14,
          "audit verify --json: 14 entries verified")
    report = validate(schema, "report", runner, "report")
    check(report and report["audit"]["entries"] == 14
          and [m["state"] for m in report["master_keys"]] == ["retired", "retired", "active"]
          and [m["retired_by"] and m["retired_by"]["command"] for m in report["master_keys"]]
          == ["udmg-server prune-keys"] * 2 + [None],
          "report --json: versions 1 and 2 retired by prune-keys, 3 active, the trail verified")
    # A report with failures is still printed, with its exit code: two values made unreadable.
    failed = corrupt_two_values(runner)
    if failed:
        verified = validate(schema, "verify", runner, "verify", expect=5)
        check(verified and verified["failed"] == 2, "verify --json counts the 2 failures")


def corrupt_two_values(runner):
    """Gives rows 2 and 3 row 1's value with one character of its tag changed: SQLite only."""
    if not runner.url.startswith("sqlite:"):
        return False
    path = runner.url[len("sqlite:"):]
    import sqlite3
    with sqlite3.connect(path) as db:
        one = db.execute("SELECT secret FROM credentials WHERE id = 1").fetchone()[0]
        db.execute("UPDATE credentials SET secret = ? WHERE id IN (2, 3)",
                   (one[:-6] + ("A" if one[-6] != "A" else "B") + one[-5:],))
    return True


def check_log_format(runner):
    done = subprocess.run([runner.binary, "--log-format", "json", "no-such-command"],
                          capture_output=True, text=True, env=runner.env)
    check(done.returncode == 2, "--log-format json with an unknown command exits 2")
    lines = done.stderr.strip().split("\n")
    try:
        entry = json.loads(lines[0])
        check(set(entry) == {"time", "level", "message"} and entry["level"] == "error" and
              entry["time"].endswith("Z") and "unknown command" in entry["message"],
              f"--log-format json error line: {lines[0]}")
    except json.JSONDecodeError:
        check(False, f"--log-format json: the error line is not JSON: {lines[0]!r}")
    runner.run("init")
    runner.run("demo", "--rows", "30")
    runner.run("rotate-master-key")
    done = runner.run("--log-format", "json", "reencrypt", "--no-progress",
                      "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "0")
    for line in done.stderr.strip().split("\n"):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            check(False, f"--log-format json: a job's stderr line is not JSON: {line!r}")
            continue
        if entry["message"].startswith("metrics: listening on"):
            check(entry["level"] == "info", "the listener's line is level info")


def postgres_url(base):
    schema = "json_test_" + secrets.token_hex(4)
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE SCHEMA {schema}"],
                   check=True)
    separator = "&" if "?" in base else "?"
    options = urllib.parse.quote(f"-csearch_path={schema} -cudmg.schema={schema}")
    return schema, f"{base}{separator}options={options}"


def main():
    binary, schema_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    with tempfile.TemporaryDirectory(prefix="udmg-json-") as workdir:
        sqlite_runner = Runner(binary, f"sqlite:{workdir}/udmg.db", workdir)
        scenario(schema, sqlite_runner)
        check_log_format(Runner(binary, f"sqlite:{workdir}/log-format.db", workdir))
        base = os.environ.get("UDMG_TEST_POSTGRES_URL")
        if base:
            name, url = postgres_url(base)
            try:
                scenario(schema, Runner(binary, url, workdir))
            finally:
                subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {name} CASCADE"])
        elif os.environ.get("UDMG_REQUIRE_POSTGRES") == "1":
            check(False, "UDMG_TEST_POSTGRES_URL is not set (UDMG_REQUIRE_POSTGRES=1)")
    print(f"{len(FAILURES)} failure(s)" if FAILURES else "every document matches its schema")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
