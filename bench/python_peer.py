"""The peer the end-to-end benchmark measures udmg against: the re-encryption an operator would
write in an afternoon with Python's `cryptography`, from docs/formats.md alone, on the benchmark
dataset (bench/e2e_dataset.h: credentials(id, name, secret), values under master v1, v2 active).

    python_peer.py DB [BATCH_SIZE]      DB: a SQLite file path or a postgresql:// URL

K0 comes from UDMG_SECURITY_PASSPHRASE_KEY (64 hex digits). It unwraps every master key's K3 with
Fernet under K0, then walks credentials in keyset pages of BATCH_SIZE (default 1000) stale rows
(id > last ORDER BY id LIMIT n, values not yet under the active version), decrypts each envelope
with its version's K1 (AES-256-GCM, AAD = the prefix `udmg:vN:`), encrypts it under the active
version with a fresh random 12-byte nonce and writes it back with a compare-and-swap UPDATE per
row (WHERE id = ? AND secret = the value read), one transaction per page. SQLite through the
standard library's sqlite3, PostgreSQL through psycopg2. Prints one JSON line: rows written,
rows skipped by the compare-and-swap (changed meanwhile) and the run's seconds."""
import base64
import json
import os
import sys
import time

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def connect(target):
    if target.startswith(("postgresql://", "postgres://")):
        import psycopg2  # only needed for PostgreSQL

        return psycopg2.connect(target), "%s"
    import sqlite3

    db = sqlite3.connect(target)
    # The durability the library's connections use (WAL, synchronous=NORMAL), so that the
    # comparison measures the client, not a different fsync policy.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db, "?"


def load_master_keys(db, k0):
    """{version: K1} for every master version, and the active version."""
    fernet = Fernet(base64.urlsafe_b64encode(k0))
    cur = db.cursor()
    cur.execute("SELECT version, k3, state FROM udmg_master_keys")
    keys, active = {}, None
    for version, k3, state in cur.fetchall():
        if state == "retired":
            continue
        keys[version] = fernet.decrypt(k3.encode("ascii"))
        if state == "active":
            active = version
    if active is None:
        sys.exit("python_peer: no active master version")
    return keys, active


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    target, batch = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 1000
    start = time.monotonic()
    k0 = bytes.fromhex(os.environ["UDMG_SECURITY_PASSPHRASE_KEY"].strip())
    db, p = connect(target)
    keys, active = load_master_keys(db, k0)
    new_prefix = f"udmg:v{active}:"
    new_aad = new_prefix.encode("ascii")
    new_gcm = AESGCM(keys[active])
    old_gcm = {version: AESGCM(key) for version, key in keys.items()}
    select = (f"SELECT id, secret FROM credentials WHERE id > {p} AND secret LIKE {p} "
              f"AND substr(secret, 1, {len(new_prefix)}) <> {p} ORDER BY id LIMIT {p}")
    update = f"UPDATE credentials SET secret = {p} WHERE id = {p} AND secret = {p}"
    cur = db.cursor()
    after, written, skipped = 0, 0, 0  # the dataset's ids start at 1
    while True:
        cur.execute(select, (after, "udmg:v%", new_prefix, batch))
        page = cur.fetchall()
        if not page:
            break
        writes = []
        for row_id, value in page:
            version, payload = value[len("udmg:v"):].split(":", 1)
            raw = base64.b64decode(payload, validate=True)
            plaintext = old_gcm[int(version)].decrypt(raw[:12], raw[12:],
                                                      f"udmg:v{version}:".encode("ascii"))
            nonce = os.urandom(12)
            sealed = nonce + new_gcm.encrypt(nonce, plaintext, new_aad)
            writes.append((new_prefix + base64.b64encode(sealed).decode("ascii"), row_id, value))
        # One UPDATE per row; the page is one transaction.
        for write in writes:
            cur.execute(update, write)
            if cur.rowcount == 1:
                written += 1
            else:
                skipped += 1
        db.commit()
        after = page[-1][0]
    db.close()
    print(json.dumps({"rows": written, "skipped": skipped,
                      "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
