#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: valid and near-valid inputs for each.

  make_seeds.py OUT_DIR               every seed (committed as fuzz/corpus/; run again to refresh)
  make_seeds.py --testdata DIR OUT    only the seeds taken from ../shared/testdata (the Fernet
                                      spec's tokens), which scripts/fuzz.sh adds at run time

Independent of the C++ code: envelopes, Fernet tokens and backup files are made with Python's
`cryptography`, under the fixed keys of fuzz/fuzz_keys.h and fuzz/backup_check.h.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

ROOT_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
MASTER_KEYS_HEX = ["11" * 32, "22" * 32, "33" * 32]  # versions 1 (retired), 2, 3 (active)
PASSPHRASE = b"fuzz passphrase, not a secret"
SPEC_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="


def write(out, harness, name, data):
    directory = os.path.join(out, harness)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def fernet_seeds(testdata, out):
    for name in ("verify.json", "invalid.json", "generate.json"):
        with open(os.path.join(testdata, "fernet", name)) as f:
            cases = json.load(f)
        for i, case in enumerate(cases):
            if case.get("secret") == SPEC_KEY and "token" in case:
                write(out, "fernet_fuzzer", "spec-%s-%d" % (name.split(".")[0], i), case["token"])


def key_seeds(out):
    for harness in ("root_key_fuzzer", "new_key_fuzzer"):
        write(out, harness, "valid", ROOT_KEY_HEX)
        write(out, harness, "valid-upper-newline", ROOT_KEY_HEX.upper() + "\n")
        write(out, harness, "valid-spaces", "  \t" + ROOT_KEY_HEX + " \r\n")
        write(out, harness, "short-63", ROOT_KEY_HEX[:63])
        write(out, harness, "long-65", ROOT_KEY_HEX + "0")
        write(out, harness, "non-hex-at-10", ROOT_KEY_HEX[:9] + "g" + ROOT_KEY_HEX[10:])
        write(out, harness, "inner-space", ROOT_KEY_HEX[:32] + " " + ROOT_KEY_HEX[33:])
        write(out, harness, "empty", "")


def envelope(version, plaintext, nonce, bound=False):
    """udmg:v<N>:, or the row-bound udmg:b<N>: of the harness's row credentials.secret id 42."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    prefix = ("udmg:b%d:" if bound else "udmg:v%d:") % version
    aad = prefix.encode() + (b"credentials\0secret\0" b"42" if bound else b"")
    key = bytes.fromhex(MASTER_KEYS_HEX[version - 1])
    sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    return prefix + base64.b64encode(sealed).decode()


def envelope_seeds(out):
    good = []
    for version in (1, 2, 3):
        for i, plaintext in enumerate((b"", b"s3cret", b"a longer stored credential " * 3)):
            good.append(envelope(version, plaintext, bytes([version, i]) * 6))
    bound = [envelope(version, b"bound s3cret", bytes([version, 9]) * 6, bound=True)
             for version in (2, 3)]
    tampered = good[4][:-6] + ("A" if good[4][-6] != "A" else "B") + good[4][-5:]
    near = ["udmg:v4:" + good[7].split(":", 2)[2], tampered, "udmg:v3:", "udmg:v3:AAAA",
            "udmg:v0:AAAA", "udmg:v03:AAAA", "udmg:v4294967295:", "udmg:v4294967296:", "udmg:",
            "udmg:v", "udmg:v7", "legacy plaintext", good[8][:-1], good[8] + "=",
            "udmg:b3:", "udmg:b0:AAAA", "udmg:b", "udmg:v" + bound[1][6:]]
    for i, value in enumerate(good + near + bound):
        write(out, "value_cipher_fuzzer", "envelope-%02d" % i, value)
        write(out, "envelope_fuzzer", "envelope-%02d" % i, value)


def fingerprint(k0):
    return hmac.new(k0, b"udmg-k0-fingerprint", hashlib.sha256).digest()[:16].hex()


def backup_plaintext():
    """The JSON contents of a backup: two roots (1 wrapped by 2), two masters under root 2."""
    from cryptography.fernet import Fernet
    old_k0, k0 = bytes(range(100, 132)), bytes.fromhex(ROOT_KEY_HEX)
    current = Fernet(base64.urlsafe_b64encode(k0))
    roots = [
        {"version": 1, "fingerprint": fingerprint(old_k0),
         "wrapped_key": current.encrypt(old_k0).decode(), "wrapped_by": 2, "created_at": 1700000000},
        {"version": 2, "fingerprint": fingerprint(k0), "wrapped_key": None, "wrapped_by": None,
         "created_at": 1700000100},
    ]
    masters = [
        {"version": v, "k3": current.encrypt(bytes.fromhex(MASTER_KEYS_HEX[v - 1])).decode(),
         "root_version": 2, "state": state, "created_at": 1700000000 + v}
        for v, state in ((1, "decrypt_only"), (2, "active"))
    ]
    contents = {"format": 1, "keyring_id": "fuzz-keyring", "keyring_revision": 3,
                "created_at": 1700000200, "tool_version": "fuzz", "root_version": 2,
                "root_fingerprint": fingerprint(k0), "roots": roots, "masters": masters}
    body = json.dumps(contents, separators=(",", ":"))
    return ('{"root_key":"%s",' % ROOT_KEY_HEX + body[1:]).encode()


def seal(plaintext, log2_n=10, r=1, p=1):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    salt, nonce = b"seed salt 123456", b"seed nonce12"
    header = struct.pack(">8sBBBII16s12sI", b"UDMGBKUP", 1, 1, log2_n, r, p, salt, nonce,
                         len(plaintext) + 16)
    key = Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(PASSPHRASE)
    return header + AESGCM(key).encrypt(nonce, plaintext, header)


def backup_seeds(out):
    plaintext = backup_plaintext()
    write(out, "backup_contents_fuzzer", "valid", plaintext)
    write(out, "backup_contents_fuzzer", "pretty", json.dumps(json.loads(plaintext), indent=1))
    write(out, "backup_contents_fuzzer", "no-masters", plaintext.replace(b'"masters"', b'"m"'))
    write(out, "backup_contents_fuzzer", "empty-object", b"{}")
    file = seal(plaintext)
    write(out, "backup_file_fuzzer", "valid-cheapest-cost", file)
    write(out, "backup_file_fuzzer", "header-only", file[:51])
    write(out, "backup_file_fuzzer", "cost-out-of-bounds", file[:10] + b"\x09" + file[11:])
    write(out, "backup_file_fuzzer", "flipped-body-bit", file[:60] + bytes([file[60] ^ 1]) + file[61:])
    write(out, "backup_file_fuzzer", "magic-only", b"UDMGBKUP")


def text_seeds(out):
    seeds = {
        "database_url_fuzzer": ["sqlite:udmg.db", "sqlite:/var/lib/udmg/keys.db", "sqlite:",
                                "postgresql://udmg:hunter2@db.example:5432/keys?sslmode=require",
                                "postgres://db/keys?password=hunter2&application_name=x",
                                "postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=any",
                                "postgresql:///keys?host=/var/run/postgresql",
                                "mysql://admin:hunter2@db/prod", "udmg.db", ""],
        "control_command_fuzzer": ["status", "pause", "resume", "rate", "rate=500",
                                   " rate = 1.5e3 ", "rate=0", "batch-size", "batch-size=2000",
                                   "batch-size=1000000", "rate=-1", "rate=inf", "batch-size=0",
                                   "pause=1", "bogus", ""],
        "listen_address_fuzzer": [":9464", "127.0.0.1:9464", "[::1]:0", "localhost:65535",
                                  "[::]:80", "host:65536", "::1:80", "[::1]80", "host:"],
        "duration_fuzzer": ["90s", "5m", "1h", "1h30m", "2h5m10s", "300", "0", "", "1m1h", "5x",
                            "87600h", "315360001"],
        "column_name_fuzzer": ["credentials.secret", "a.b", "_x1.y_2", "a..b", "1a.b", "a.b.c",
                               "."],
        "metric_label_fuzzer": ["credentials.secret", 'a"b\\c\nd', "\\n", "", "\"\n\\"],
        "base64_fuzzer": ["", "Zg==", "Zm8=", "Zm9v", "-_-_", "+/+/", "Zh==", "Zm9=", "Zg=", "=Zg="],
        "hex_fuzzer": ["", "00ff", "ABcd", "0g", "abc", ROOT_KEY_HEX],
    }
    for harness, texts in seeds.items():
        for i, text in enumerate(texts):
            write(out, harness, "seed-%02d" % i, text)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--testdata":
        fernet_seeds(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    fernet_seeds(os.path.join(here, "..", "..", "shared", "testdata"), out)
    key_seeds(out)
    envelope_seeds(out)
    backup_seeds(out)
    text_seeds(out)


if __name__ == "__main__":
    main()
