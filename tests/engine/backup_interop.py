#!/usr/bin/env python3
"""An independent implementation of the udmg-server backup file (engine/backup.h) on Python's
`cryptography` (Scrypt, AESGCM, Fernet), run by tests/engine/backup_test.cc.

  backup_interop.py open FILE PASSPHRASE
      Opens a backup written by udmg-server, checks every field and every key it holds, and
      prints a JSON summary (versions, fingerprints, SHA-256 of each unwrapped K1).
  backup_interop.py seal FILE PASSPHRASE
      Writes a backup of a fresh two-root, two-master keyring in its own JSON layout (other key
      order, spaces, newlines) and prints the keys it holds, for the test to compare.

Exits non-zero with a message on stderr when anything does not match.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"UDMGBKUP"
# magic, format, kdf, log2_n, r, p, salt, nonce, ciphertext_length (tag included)
HEADER = struct.Struct(">8sBBBII16s12sI")
FIELDS = {"format", "keyring_id", "keyring_revision", "created_at", "tool_version",
          "root_version", "root_fingerprint", "root_key", "roots", "masters"}
ROOT_FIELDS = {"version", "fingerprint", "wrapped_key", "wrapped_by", "created_at"}
MASTER_FIELDS = {"version", "k3", "root_version", "state", "created_at"}


def fingerprint(k0):
    return hmac.new(k0, b"udmg-k0-fingerprint", hashlib.sha256).digest()[:16].hex()


def fernet(k0):
    return Fernet(base64.urlsafe_b64encode(k0))


def derive(passphrase, salt, log2_n, r, p):
    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(passphrase)


def check(condition, what):
    if not condition:
        sys.exit("backup_interop.py: " + what)


def open_backup(path, passphrase):
    data = open(path, "rb").read()
    check(len(data) >= HEADER.size, "shorter than the header")
    magic, fmt, kdf, log2_n, r, p, salt, nonce, length = HEADER.unpack_from(data)
    check(magic == MAGIC and fmt == 1 and kdf == 1, "bad magic, format or kdf")
    check(len(data) == HEADER.size + length, "length field does not match the file size")
    key = derive(passphrase, salt, log2_n, r, p)
    plaintext = AESGCM(key).decrypt(nonce, data[HEADER.size:], data[:HEADER.size])
    doc = json.loads(plaintext)
    check(set(doc) == FIELDS, "fields are %s" % sorted(doc))
    check(doc["format"] == 1, "format field")
    k0 = bytes.fromhex(doc["root_key"])
    check(len(k0) == 32 and doc["root_key"] == k0.hex(), "root_key is not 64 lowercase hex")
    check(fingerprint(k0) == doc["root_fingerprint"], "root_fingerprint does not match root_key")

    root_keys = {doc["root_version"]: k0}
    for root in doc["roots"]:
        check(set(root) == ROOT_FIELDS, "root fields are %s" % sorted(root))
        if root["version"] == doc["root_version"]:
            check(root["wrapped_key"] is None and root["wrapped_by"] is None, "current root wrapped")
            check(root["fingerprint"] == doc["root_fingerprint"], "current root fingerprint")
            continue
        check(root["wrapped_by"] == doc["root_version"], "older root not wrapped by the current")
        older = fernet(k0).decrypt(root["wrapped_key"].encode())
        check(fingerprint(older) == root["fingerprint"], "older root fingerprint")
        root_keys[root["version"]] = older

    masters = {}
    for master in doc["masters"]:
        check(set(master) == MASTER_FIELDS, "master fields are %s" % sorted(master))
        check(master["state"] in ("active", "decrypt_only", "retired"), "master state")
        summary = {"state": master["state"], "root_version": master["root_version"]}
        if master["state"] != "retired":
            k1 = fernet(root_keys[master["root_version"]]).decrypt(master["k3"].encode())
            check(len(k1) == 32, "K1 is not 32 bytes")
            summary["k1_sha256"] = hashlib.sha256(k1).hexdigest()
        masters[str(master["version"])] = summary

    print(json.dumps({
        "cost": [log2_n, r, p],
        "keyring_id": doc["keyring_id"],
        "keyring_revision": doc["keyring_revision"],
        "created_at": doc["created_at"],
        "tool_version": doc["tool_version"],
        "root_version": doc["root_version"],
        "root_fingerprint": doc["root_fingerprint"],
        "roots": sorted(root["version"] for root in doc["roots"]),
        "masters": masters,
    }))


def seal_backup(path, passphrase):
    old_k0, k0 = os.urandom(32), os.urandom(32)
    k1 = {1: os.urandom(32), 2: os.urandom(32)}
    doc = {
        "masters": [
            {"state": "decrypt_only", "version": 1, "root_version": 2, "created_at": 1700000001,
             "k3": fernet(k0).encrypt(k1[1]).decode()},
            {"state": "active", "version": 2, "root_version": 2, "created_at": 1700000002,
             "k3": fernet(k0).encrypt(k1[2]).decode()},
        ],
        "roots": [
            {"version": 1, "fingerprint": fingerprint(old_k0), "created_at": 1700000000,
             "wrapped_key": fernet(k0).encrypt(old_k0).decode(), "wrapped_by": 2},
            {"version": 2, "fingerprint": fingerprint(k0), "created_at": 1700000003,
             "wrapped_key": None, "wrapped_by": None},
        ],
        "root_key": k0.hex(),
        "root_fingerprint": fingerprint(k0),
        "root_version": 2,
        "tool_version": "python-interop",
        "created_at": 1700000004,
        "keyring_revision": 5,
        "keyring_id": os.urandom(16).hex(),
        "format": 1,
    }
    plaintext = json.dumps(doc, indent=1).encode()
    log2_n, r, p = 10, 8, 1
    salt, nonce = os.urandom(16), os.urandom(12)
    header = HEADER.pack(MAGIC, 1, 1, log2_n, r, p, salt, nonce, len(plaintext) + 16)
    body = AESGCM(derive(passphrase, salt, log2_n, r, p)).encrypt(nonce, plaintext, header)
    with open(path, "wb") as out:
        out.write(header + body)
    print(json.dumps({
        "keyring_id": doc["keyring_id"],
        "root_key": k0.hex(),
        "old_root_key": old_k0.hex(),
        "k1": {str(version): key.hex() for version, key in k1.items()},
    }))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("open", "seal"):
        sys.exit("usage: backup_interop.py open|seal FILE PASSPHRASE")
    action, path, passphrase = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    (open_backup if action == "open" else seal_backup)(path, passphrase)


if __name__ == "__main__":
    main()
