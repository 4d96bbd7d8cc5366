#!/usr/bin/env python3
"""Reference SHA-256 / HMAC-SHA256 values and pseudonym tokens for tests/comply (Python hashlib/hmac).

    python3 scripts/comply/make_reference_hashes.py > tests/fixtures/comply/hashes.json
"""
import hashlib
import hmac
import json
import sys

texts = ["", "abc", "주민등록번호 900101-1234568", "a" * 1000, "x" * 55, "y" * 64, "z" * 119]
keys = [b"key", b"k" * 64, b"long-key-" * 20]
out = {"python": sys.version.split()[0], "sha256": [], "hmac": [], "pseudonym": []}
for t in texts:
    out["sha256"].append({"text": t, "hex": hashlib.sha256(t.encode()).hexdigest()})
for k in keys:
    for t in texts[:4]:
        out["hmac"].append({"key": k.decode(), "text": t, "hex": hmac.new(k, t.encode(), hashlib.sha256).hexdigest()})
# Pseudonym = "[type:" + first 8 bytes (hex) of HMAC(key, type + NUL + canonical value) + "]"
for typ, canon in [("rrn", "9001011234568"), ("phone", "01012345678"), ("email", "kim@example.com")]:
    mac = hmac.new(b"secret-key", (typ + "\0" + canon).encode(), hashlib.sha256).hexdigest()[:16]
    out["pseudonym"].append({"key": "secret-key", "type": typ, "canonical": canon, "token": f"[{typ}:{mac}]"})
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
