#!/usr/bin/env python3
"""An independent implementation of the udmg-keys stored formats (docs/formats.md), written with
Python's `cryptography` package, used by the end-to-end tests to check what udmg-server stores.

  inspect --db FILE --k0 HEX [--old-k0 HEX]...
      Checks the keyring of a SQLite database against the current K0 (and, optionally, keys that
      must be the historical root versions), decrypts every registered value and prints JSON:
      {"current_root_version": N, "fingerprint": "...", "active_master_version": N,
       "root_versions": {"1": "<fingerprint>", ...}, "old_k0_versions": {"<fingerprint>": N},
       "columns": {"credentials.secret": {"<key>": {"version": N|null, "bound": true|false,
                                                    "plaintext": "..."|null}}}}
      A value without the "udmg:" prefix is legacy plaintext (version null). A row-bound envelope
      "udmg:b<N>:" is decrypted with AAD = prefix + table + 0x00 + column + 0x00 + key text.
  write --db FILE --k0 HEX --column TABLE.COLUMN --key KEY --plaintext TEXT [--bound]
      Encrypts TEXT under the active master version (AES-256-GCM, AAD = the prefix; with --bound,
      the row-bound form) and stores the envelope in that row, then prints the envelope.

Any failure: one line on stderr and exit 1. Never prints key bytes.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import sys

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE = re.compile(r"^udmg:([vb])([1-9][0-9]*):([A-Za-z0-9+/=]*)$")


class CheckFailed(Exception):
    pass


def fingerprint(k0: bytes) -> str:
    return hmac.new(k0, b"udmg-k0-fingerprint", hashlib.sha256).digest()[:16].hex()


def fernet_for(k0: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(k0))


def parse_key(hex_text: str) -> bytes:
    key = bytes.fromhex(hex_text.strip())
    if len(key) != 32:
        raise CheckFailed(f"a key must be 32 bytes, got {len(key)}")
    return key


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def unwrap(f: Fernet, token: str, what: str) -> bytes:
    try:
        raw = f.decrypt(token.encode("ascii"))
    except InvalidToken:
        raise CheckFailed(f"{what} does not decrypt with the given K0 (Fernet)")
    if len(raw) != 32:
        raise CheckFailed(f"{what} unwraps to {len(raw)} bytes, expected 32")
    return raw


def load_root_keys(db, k0: bytes, old_k0s):
    rows = db.execute(
        "SELECT version, fingerprint, wrapped_key, wrapped_by FROM udmg_root_keys ORDER BY version"
    ).fetchall()
    current = [r for r in rows if r[2] is None]
    if len(current) != 1:
        raise CheckFailed(f"expected exactly one current root version, found {len(current)}")
    current_version, current_fp = current[0][0], current[0][1]
    if current_fp != fingerprint(k0):
        raise CheckFailed(f"the given K0 is not root version {current_version} (fingerprint)")
    if current_version != max(r[0] for r in rows):
        raise CheckFailed("the current root version is not the newest one")
    f = fernet_for(k0)
    unwrapped = {}  # fingerprint -> version, for every historical K0
    for version, fp, wrapped, wrapped_by in rows:
        if wrapped is None:
            continue
        if wrapped_by != current_version:
            raise CheckFailed(f"root v{version} is wrapped by v{wrapped_by}, not the current one")
        old = unwrap(f, wrapped, f"historical root v{version}")
        if fingerprint(old) != fp:
            raise CheckFailed(f"historical root v{version} does not match its fingerprint")
        unwrapped[fp] = version
    for old in old_k0s:
        if fingerprint(old) not in unwrapped:
            raise CheckFailed("an expected old K0 is not stored as a historical root version")
    return current_version, current_fp, {str(r[0]): r[1] for r in rows}, unwrapped


def load_master_keys(db, k0: bytes, root_version: int):
    rows = db.execute(
        "SELECT version, k3, root_version, state FROM udmg_master_keys ORDER BY version"
    ).fetchall()
    active = [r[0] for r in rows if r[3] == "active"]
    if len(active) != 1:
        raise CheckFailed(f"expected exactly one active master version, found {len(active)}")
    f = fernet_for(k0)
    keys = {}
    for version, k3, wrapped_under, state in rows:
        if state not in ("active", "decrypt_only", "retired"):
            raise CheckFailed(f"master v{version} has an unknown state {state!r}")
        if wrapped_under != root_version:
            raise CheckFailed(f"K3 v{version} is under root v{wrapped_under}, not v{root_version}")
        keys[version] = unwrap(f, k3, f"K3 v{version}")
    return active[0], keys


def envelope_aad(form: str, version: int, table: str, column: str, key_text: str) -> bytes:
    prefix = f"udmg:{form}{version}:".encode("ascii")
    if form == "v":
        return prefix
    return b"\0".join([prefix + table.encode("ascii"), column.encode("ascii"),
                       key_text.encode("utf-8")])


def decrypt_value(value: str, master_keys, table: str, column: str, key_text: str):
    """(version, bound, plaintext); version None for legacy plaintext."""
    where = f"{table}.{column} key {key_text}"
    if not value.startswith("udmg:"):
        return None, False, value
    match = ENVELOPE.match(value)
    if not match:
        raise CheckFailed(f"{where}: malformed envelope")
    form, version, payload = match.group(1), int(match.group(2)), match.group(3)
    if version not in master_keys:
        raise CheckFailed(f"{where}: unknown master version {version}")
    blob = base64.b64decode(payload, validate=True)
    if base64.b64encode(blob).decode("ascii") != payload:
        raise CheckFailed(f"{where}: base64 is not canonical standard base64 with padding")
    if len(blob) < 28:
        raise CheckFailed(f"{where}: envelope too short")
    aad = envelope_aad(form, version, table, column, key_text)
    try:
        plain = AESGCM(master_keys[version]).decrypt(blob[:12], blob[12:], aad)
    except Exception:
        raise CheckFailed(f"{where}: AES-GCM decryption failed under v{version}")
    return version, form == "b", plain.decode("utf-8", errors="backslashreplace")


def inspect(args):
    k0 = parse_key(args.k0)
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    root_version, fp, roots, historical = load_root_keys(db, k0, [parse_key(k) for k in args.old_k0])
    active, master_keys = load_master_keys(db, k0, root_version)
    columns = {}
    for table, column, key_column in db.execute(
            "SELECT table_name, column_name, key_column FROM udmg_encrypted_columns"):
        values = {}
        for key, value in db.execute(
                f"SELECT {quote(key_column)}, {quote(column)} FROM {quote(table)}"):
            if value is None:
                values[str(key)] = {"version": None, "bound": False, "plaintext": None}
                continue
            version, bound, plain = decrypt_value(value, master_keys, table, column, str(key))
            values[str(key)] = {"version": version, "bound": bound, "plaintext": plain}
        columns[f"{table}.{column}"] = values
    json.dump({"current_root_version": root_version, "fingerprint": fp,
               "active_master_version": active, "root_versions": roots,
               "old_k0_versions": historical, "columns": columns}, sys.stdout)


def write(args):
    k0 = parse_key(args.k0)
    table, column = args.column.split(".", 1)
    db = sqlite3.connect(args.db)
    root_version, _, _, _ = load_root_keys(db, k0, [])
    active, master_keys = load_master_keys(db, k0, root_version)
    (key_column,) = db.execute(
        "SELECT key_column FROM udmg_encrypted_columns WHERE table_name = ? AND column_name = ?",
        (table, column)).fetchone()
    form = "b" if args.bound else "v"
    prefix = f"udmg:{form}{active}:"
    nonce = os.urandom(12)
    sealed = AESGCM(master_keys[active]).encrypt(
        nonce, args.plaintext.encode("utf-8"), envelope_aad(form, active, table, column, args.key))
    envelope = prefix + base64.b64encode(nonce + sealed).decode("ascii")
    key = int(args.key) if re.fullmatch(r"-?[0-9]+", args.key) else args.key
    cursor = db.execute(f"UPDATE {quote(table)} SET {quote(column)} = ? WHERE {quote(key_column)} = ?",
                        (envelope, key))
    if cursor.rowcount != 1:
        raise CheckFailed(f"no row {args.key} in {table}")
    db.commit()
    sys.stdout.write(envelope)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("inspect")
    p.add_argument("--db", required=True)
    p.add_argument("--k0", required=True)
    p.add_argument("--old-k0", action="append", default=[])
    p.set_defaults(run=inspect)
    p = commands.add_parser("write")
    p.add_argument("--db", required=True)
    p.add_argument("--k0", required=True)
    p.add_argument("--column", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--plaintext", required=True)
    p.add_argument("--bound", action="store_true")
    p.set_defaults(run=write)
    args = parser.parse_args()
    try:
        args.run(args)
    except (CheckFailed, sqlite3.Error, ValueError) as e:
        print(f"udmg_interop: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
