#!/usr/bin/env python3
"""Runs every command of the operator's docs against a scratch database, in the docs' order.

Usage: run_doc_commands.py UDMG_SERVER DOC.md [DOC.md ...]

What counts as a command (docs/decisions.md, "Docs that run"):
- in a fenced block without a language or marked sh: a line starting with "$ " (its output follows
  it), every line of a block marked sh, and the command part of a crontab line;
- in a numbered runbook step: a line made only of one `code span`.
Continuation lines ending in a backslash are joined. A command is expected to succeed unless the
doc shows "udmg-server: error:" among its output lines.

Placeholders (hosts, /srv, /etc, /run/secrets, "...") are mapped into one scratch directory per
doc (SUBSTITUTIONS below). Set-up a reader does not need to see is written in the doc as an HTML
comment, `<!-- doc-test: COMMANDS -->`, run where it stands. Every command runs in bash with the
variables the earlier ones exported (allexport), from the scratch directory, stdin closed.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

# (pattern, replacement): placeholders of the docs, in the order they are applied.
SUBSTITUTIONS = [
    (r"http://(?:10\.0\.0\.5|127\.0\.0\.1):9464", "$DOC_JOB_URL"),
    # A listener on a free port, and no linger after the job: no Prometheus scrapes it here.
    (r"(?:10\.0\.0\.5|127\.0\.0\.1):9464", "127.0.0.1:0 --metrics-linger 0"),
    (r"postgresql://[^ ]*/newdb", "sqlite:$DOC_DIR/newdb.db"),
    (r"postgresql://udmg@db1/app", "sqlite:$DOC_DIR/udmg.db"),
    (r"sqlite:/srv/udmg/udmg\.db", "sqlite:$DOC_DIR/udmg.db"),
    (r"/run/secrets\b", "$DOC_DIR/run-secrets"),
    (r"/secure\b", "$DOC_DIR/secure"),
    (r"/etc/udmg\b", "$DOC_DIR/etc-udmg"),
    (r"/var/lib/prometheus/node-exporter\b", "$DOC_DIR/textfile"),
    (r"/var/backups/udmg\b", "$DOC_DIR/backups"),
    (r"--output PATH\b", "--output $DOC_DIR/backup-$RANDOM.udmgbackup"),
    (r"UDMG_SECURITY_PASSPHRASE_KEY=\.\.\.", "UDMG_SECURITY_PASSPHRASE_KEY=$DOC_KEY"),
    (r"UDMG_BACKUP_PASSPHRASE=\.\.\.", "UDMG_BACKUP_PASSPHRASE=$DOC_BACKUP_PASSPHRASE"),
]
CRONTAB_LINE = re.compile(r"^(?:[0-9*/,-]+\s+){5}\S+\s+(.*)$")
HIDDEN = re.compile(r"<!--\s*doc-test:(.*?)-->", re.S)
RUNBOOK_STEP = re.compile(r"^\s+`([^`]+)`\s*$")


class Command:
    def __init__(self, doc, line, text, expect_error=False, hidden=False):
        self.doc, self.line, self.text = doc, line, text
        self.expect_error, self.hidden = expect_error, hidden


def joined(lines):
    """Joins backslash continuations: yields (index of the first line, text)."""
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        yield start, text
        i += 1


def commands_of(doc):
    lines = open(doc, encoding="utf-8").read().split("\n")
    text = "\n".join(lines)
    hidden_at = {text[: m.start()].count("\n"): m.group(1).strip() for m in HIDDEN.finditer(text)}
    result, fence, block, block_start = [], None, [], 0
    in_runbook = False
    for number, line in enumerate(lines):
        if number in hidden_at and fence is None:
            result.append(Command(doc, number + 1, hidden_at[number], hidden=True))
        if line.lstrip().startswith("```"):
            if fence is None:
                fence, block, block_start = line.lstrip()[3:].strip(), [], number + 1
            else:
                result.extend(block_commands(doc, fence, block, block_start))
                fence = None
            continue
        if fence is not None:
            block.append(line)
            continue
        if line.startswith("#"):
            in_runbook = line.startswith("## Runbook")
        step = RUNBOOK_STEP.match(line) if in_runbook else None
        if step:
            result.append(Command(doc, number + 1, step.group(1)))
    return result


def block_commands(doc, language, block, start):
    if language not in ("", "sh"):
        return []
    commands = []
    block = [line.strip() for line in block]
    for index, text in joined(block):
        stripped = text.strip()
        line = start + index + 1
        if stripped.startswith("$ "):
            output = []
            for following in block[index + 1:]:
                if following.startswith("$ "):
                    break
                if not following.startswith("#"):
                    output.append(following)
            failed = any(o.startswith("udmg-server: error:") for o in output)
            command = stripped[2:]
            if command.startswith("curl "):
                # curl exits 0 on any HTTP status: --fail makes a refused request a failure, and
                # the doc shows the status it expects of a refusal.
                failed = any(re.search(r"HTTP [45][0-9][0-9]", o) for o in output)
                command = "curl --fail " + command[len("curl "):]
            commands.append(Command(doc, line, command, expect_error=failed))
        elif CRONTAB_LINE.match(stripped):
            commands.append(Command(doc, line, CRONTAB_LINE.match(stripped).group(1)))
        elif language == "sh" and stripped and not stripped.startswith("#"):
            commands.append(Command(doc, line, stripped))
    return commands


def substituted(text):
    for pattern, replacement in SUBSTITUTIONS:
        text = re.sub(pattern, replacement, text)
    return text


def run(command, scratch, state, helpers):
    script = (
        "set -a\n"
        f". {shlex.quote(state)}\n"
        f". {shlex.quote(helpers)}\n"
        f"cd {shlex.quote(scratch)}\n"
        f"{{ {substituted(command.text)}\n}}\n"
        "rc=$?\n"
        f"export -p > {shlex.quote(state)}\n"
        "exit $rc\n"
    )
    return subprocess.run(["bash", "-c", script], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


def run_doc(doc, binary, helpers):
    failures = 0
    with tempfile.TemporaryDirectory(prefix="udmg-doc-") as scratch:
        bindir = os.path.join(scratch, "bin")
        os.mkdir(bindir)
        os.symlink(os.path.abspath(binary), os.path.join(bindir, "udmg-server"))
        state = os.path.join(scratch, "state.sh")
        with open(state, "w") as f:
            f.write(f"export PATH={shlex.quote(bindir + ':' + os.environ['PATH'])}\n")
            f.write(f"export DOC_DIR={shlex.quote(scratch)}\n")
            f.write("unset UDMG_SECURITY_PASSPHRASE_KEY UDMG_DB\n")
        commands = commands_of(doc)
        if not commands:
            print(f"{doc}: no command found")
            return 1
        for command in commands:
            done = run(command, scratch, state, helpers)
            ok = (done.returncode != 0) if command.expect_error else (done.returncode == 0)
            kind = "set-up" if command.hidden else "command"
            print(f"{doc}:{command.line}: {kind} exit {done.returncode}: {command.text}")
            if not ok:
                failures += 1
                wanted = "an error" if command.expect_error else "exit 0"
                print(f"  FAILED: the doc shows {wanted}\n  stdout: {done.stdout.strip()}"
                      f"\n  stderr: {done.stderr.strip()}")
        subprocess.run(["bash", "-c", f"set -a; . {shlex.quote(state)}; . {shlex.quote(helpers)};"
                        " stop_job"], stdin=subprocess.DEVNULL, capture_output=True)
    return failures


def main():
    binary, docs = sys.argv[1], sys.argv[2:]
    helpers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "doc_test_helpers.sh")
    failures = sum(run_doc(doc, binary, helpers) for doc in docs)
    print(f"{failures} command(s) did not do what their doc shows" if failures else "every command ran as shown")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
