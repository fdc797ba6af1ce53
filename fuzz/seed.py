#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/.

Seeds come from the wire-format test vectors (docs/vectors/*.vec, hex) and
from a real ministry made with the `chapar` binary (bundles with node.toml,
user.toml, certificates, keys, CRL, roster), plus small hand-made messages,
queries and requests. Run from the repository root:

    python3 fuzz/seed.py            # builds and runs `chapar` via cargo
    CHAPAR=path/to/chapar python3 fuzz/seed.py

The seeds are committed; run this again after a format change.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def lp(b):
    """A length-prefixed byte string."""
    return varint(len(b)) + b


def put(target, data, name=None):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha256(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def vectors():
    """(name, document bytes) of every test vector."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "vectors", "*.vec"))):
        for line in open(path):
            if line.startswith("document:"):
                out.append((os.path.basename(path)[:-4], bytes.fromhex(line.split(":", 1)[1].strip())))
    return out


def ministry(tmp):
    """Makes a small ministry with `chapar admin`; returns its directory."""
    chapar = os.environ.get("CHAPAR")
    cmd = [chapar] if chapar else ["cargo", "run", "-q", "-p", "chapar-client", "--"]
    d = os.path.join(tmp, "ministry")

    def admin(*args):
        subprocess.run(cmd + ["admin", "--dir", d, *args], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)

    admin("init", "--name", "Ministry of Foreign Affairs", "--country", "UZ")
    admin("mission", "add", "--id", "emb-tokyo", "--name", "Embassy in Tokyo", "--country", "JP")
    admin("node", "add", "--id", "hub", "--mission", "mfa", "--role", "hub",
          "--accreditation", "top-secret", "--endpoint", "127.0.0.1:7400")
    admin("node", "add", "--id", "tokyo-1", "--mission", "emb-tokyo",
          "--accreditation", "secret", "--endpoint", "127.0.0.1:7401")
    admin("user", "add", "--id", "aziza", "--name", "Aziza Karimova",
          "--mission", "emb-tokyo", "--clearance", "secret", "--roles", "reader,drafter")
    admin("revoke", "user", "aziza", "--reason", "left the service")
    return d


def files(d, pattern):
    return sorted(glob.glob(os.path.join(d, "**", pattern), recursive=True))


def der(path, kind):
    """The DER form of a PEM certificate (x509) or CRL (crl)."""
    return subprocess.run(["openssl", kind, "-in", path, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def main():
    if os.path.isdir(SEEDS):
        shutil.rmtree(SEEDS)
    docs = vectors()
    with tempfile.TemporaryDirectory() as tmp:
        m = ministry(tmp)
        for p in files(m, "*.chpr"):
            docs.append((os.path.basename(p), open(p, "rb").read()))
        text = lambda p: open(p).read()

        # Documents of every kind, valid and invalid.
        for name, doc in docs:
            put("document", doc)

        # Frames: messages carrying the documents, and one of each kind.
        node = lp(b"hub")
        search = json.dumps({"query": "raqamli diplomatiya", "limit": 5}).encode()
        msgs = [bytes([0, 1]) + node + varint(300), bytes([5]), bytes([16]),
                bytes([3]) + varint(2) + bytes(32) + bytes([1] * 32),
                bytes([11]) + bytes(32) + bytes([1]), bytes([12]) + bytes([7] * 32),
                bytes([13, 1, 3]) + varint(0) + varint(2**64 - 1) + varint(50) + bytes([1]),
                bytes([14]) + varint(1) + varint(5) + bytes([7] * 32) + bytes([6]),
                bytes([15]) + varint(2) + bytes([3, 5]),
                bytes([17]) + lp(b"{}"), bytes([19]) + lp(search), bytes([20]) + lp(b"{}"),
                bytes([18]) + varint(403) + lp(b"no"),
                bytes([2]) + lp(bytes([1, 133]) + bytes(range(16)))]
        for _, doc in docs:
            msgs += [bytes([10]) + lp(doc), bytes([1]) + lp(doc)]
        msgs.append(bytes([4]) + varint(2) + lp(docs[0][1]) + lp(docs[1][1]))
        for msg in msgs:
            put("wire", msg)

        # Reconciliation messages: empty, one fingerprint, an id list, a
        # prefixed bound, a shifted bound, a skip.
        item = varint(1_700_000_000_000) + bytes([1]) + bytes(31)
        for msg in [bytes([1]),
                    bytes([1, 1 | (33 << 2)]) + bytes(range(16)),
                    bytes([1, 2 | (33 << 2)]) + varint(1) + item,
                    bytes([1, 1 | (2 << 2)]) + varint(1_700_000_000_001) + bytes([3, 4])
                    + bytes(range(16)) + bytes([1 | (33 << 2)]) + bytes(16),
                    bytes([1, 0 | (34 << 2)]) + varint(3) + bytes([1 | (33 << 2)]) + bytes(16)]:
            put("reconcile", msg)

        # Routing values: kind byte, classification, audience.
        for r in [bytes([1, 0, 0]), bytes([3, 3, 1]) + varint(1) + lp(b"emb-tokyo"),
                  bytes([5, 2, 1]) + varint(2) + lp(b"emb-berlin") + lp(b"emb-tokyo"),
                  bytes([6, 4, 1]) + varint(0)]:
            put("routing", r)

        # Key files.
        for p in files(m, "*sign.key") + files(m, "root.pub") + files(m, "root.key"):
            put("keys", text(p))

        # Certificates, keys and CRLs, PEM and DER.
        for p in files(m, "*.crt"):
            put("certs_pem", text(p))
            put("certs_pem", der(p, "x509"))
        for p in files(m, "*.pem"):
            put("certs_pem", text(p))
            put("certs_pem", der(p, "crl"))
        for p in files(m, "*.key"):
            put("certs_pem", text(p))

        # TLS materials: every bundle's CA, certificate, key and CRL.
        for crt in files(m, "node.crt") + files(m, "user.crt"):
            b = os.path.dirname(crt)
            key = crt[:-4] + ".key"
            if all(os.path.exists(x) for x in [os.path.join(b, "ca.crt"), key, os.path.join(b, "crl.pem")]):
                put("tls_materials", "\n====\n".join(text(x) for x in
                                                     [os.path.join(b, "ca.crt"), crt, key, os.path.join(b, "crl.pem")]))

        # Configuration files.
        for p in files(m, "node.toml"):
            put("node_config", text(p))
        for p in files(m, "user.toml"):
            put("client_config", text(p))

    # Queries, from the query language's documentation and the tests.
    queries = ["digital diplomacy", "a b OR c", "a b | c", "a AND b", "-draft", "NOT draft",
               "\"digital diplomacy\"", "dipl*", "(a OR b) c", "kind:cable", "mission:\"emb a\"",
               "tag:PREL author:aziza", "Oʻzbekiston O’zbekiston O'zbekiston", "посольство OR embassy",
               "emb-a 2024-01-05 10:30", "-(-a)", "((a OR b) (c OR -d))", "\"digital diplo", "word**",
               "a*b", "report *", "-\"\"", "tag:\"PREL\" x", ")(", "raqamli diplomatiya"]
    for q in queries:
        put("search_query", q)
        put("search_request", json.dumps({"query": q}))
    put("search_request", json.dumps({"query": "trade", "kinds": ["cable", "draft"], "missions": ["emb-tokyo"],
                                      "tags": ["PREL"], "classifications": ["SECRET"], "from_ms": 0,
                                      "to_ms": 2**63, "sort": "newest", "offset": 1, "limit": 3,
                                      "facets": True}))
    put("search_request", json.dumps({"query": "embasy diplomcy", "sort": "oldest", "pages": ["01" * 16],
                                      "authors": ["aziza"]}))
    put("search_request", "{}")


if __name__ == "__main__":
    sys.exit(main())
