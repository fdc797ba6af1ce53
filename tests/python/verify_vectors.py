#!/usr/bin/env python3
"""Independent checker for the chapar wire format, version 1.

Written from docs/wire-format.md and docs/vectors/ alone (no Rust source).

Usage: verify_vectors.py [VECTOR_DIR]
  VECTOR_DIR defaults to ../../docs/vectors relative to this script.

For every *.vec file:
  valid: true  -> decode, verify (by chapar's rule: ZIP-215, small-order
                  author keys refused; implemented here, not by
                  libsodium, whose verification is stricter), compare
                  the derived public key,
                  signed_message, signature, doc_id and every field.<name>
                  line; then flip every bit of the signature and a
                  deterministic sample of 400 other bits (all of them in
                  a shorter document) and require every mutation to be
                  rejected. A vector with `deterministic_signature: false`
                  was signed by hand (a crafted R): re-signing with the
                  seed is not expected to reproduce it.
  valid: false -> require rejection with the error class named by `expect`
                  ("decode error" or "signature error").

Prints `ok <file> ...` or `FAIL <file>: reason` per vector, then
`N passed, M failed`. Exit status: 0 all passed, 1 any failure or no
vectors, 2 PyNaCl missing.
"""

import hashlib
import os
import random
import re
import sys

try:
    import nacl.signing
except ImportError:
    sys.stderr.write(
        "verify_vectors.py needs PyNaCl (libsodium bindings).\n"
        "Install it with:  python3 -m pip install pynacl\n"
    )
    sys.exit(2)


# --------------------------------------------------------------------------
# Errors

class DecodeError(Exception):
    cls = "decode error"


class SignatureError(Exception):
    cls = "signature error"


# --------------------------------------------------------------------------
# Constants from the doc

MIB = 1024 * 1024
MAX_DOCUMENT = 16 * MIB
MAX_BODY = 16 * MIB - 128
MAGIC = b"CHPR"
VERSIONS = (1, 2)  # 2 added markings and the roster history
SIGN_PREFIX = b"chapar document v1"
assert len(SIGN_PREFIX) == 18

CLASSIFICATION = {0: "UNCLASSIFIED", 1: "RESTRICTED", 2: "CONFIDENTIAL",
                  3: "SECRET", 4: "TOP SECRET"}
PRECEDENCE = {0: "ROUTINE", 1: "IMMEDIATE", 2: "NIACT IMMEDIATE", 3: "FLASH"}
RECEIPT_STATUS = {0: "DELIVERED", 1: "READ"}
MISSION_KIND = {0: "MINISTRY", 1: "EMBASSY", 2: "CONSULATE",
                3: "PERMANENT MISSION"}
NODE_ROLE = {0: "MISSION", 1: "HUB"}
KIND = {1: "ROSTER", 2: "WIKI REVISION", 3: "CABLE", 4: "CABLE CLEARANCE",
        5: "CABLE RELEASE", 6: "RECEIPT"}

ID_RE = re.compile(r"[a-z0-9-]{1,64}")
CAPTION_RE = re.compile(r"[A-Z0-9-]{1,32}")
TAG_RE = re.compile(r"[A-Z0-9_-]{1,16}")
COUNTRY_RE = re.compile(r"[A-Z]{2,3}")

# "Required" text must contain a non-whitespace character. The doc does not
# say which whitespace; we use the Unicode White_Space property (what Rust's
# char::is_whitespace implements). Python's str.isspace differs (it also
# counts U+001C..U+001F), so it is deliberately not used.
UNICODE_WHITESPACE = frozenset(
    [chr(c) for c in range(0x09, 0x0E)] + [" ", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)


# --------------------------------------------------------------------------
# Primitive reader

class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n > self.remaining():
            raise DecodeError("truncated input")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def varint(self):
        value = 0
        for i in range(10):
            b = self.u8()
            value |= (b & 0x7F) << (7 * i)
            if b & 0x80 == 0:
                if i > 0 and b == 0:
                    raise DecodeError("non-minimal integer")
                if i == 9 and b > 1:
                    raise DecodeError("integer overflow (>= 2^64)")
                return value
            if i == 9:
                raise DecodeError("overlong integer (more than 10 bytes)")
        raise AssertionError("unreachable")

    def fixed(self, n):
        return self.take(n)

    def bytes_(self, maximum):
        n = self.varint()
        if n > maximum:  # checked before reading/allocating
            raise DecodeError("length %d above maximum %d" % (n, maximum))
        return self.take(n)

    def str_(self, maximum):
        raw = self.bytes_(maximum)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise DecodeError("invalid UTF-8") from None

    def option(self, read):
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return read()
        raise DecodeError("unknown option tag 0x%02x" % tag)

    def count(self, maximum):
        c = self.varint()
        if c > maximum:  # checked before reading any item
            raise DecodeError("count %d above maximum %d" % (c, maximum))
        return c

    def seq(self, read, maximum):
        return [read() for _ in range(self.count(maximum))]

    def set_(self, read, maximum, key=lambda v: v):
        items = self.seq(read, maximum)
        for a, b in zip(items, items[1:]):
            if not key(a) < key(b):
                raise DecodeError("set not strictly ascending")
        return items

    def enum(self, table, name):
        code = self.u8()
        if code not in table:
            raise DecodeError("unknown %s code %d" % (name, code))
        return code

    def end(self, what="value"):
        if self.remaining():
            raise DecodeError("trailing bytes after %s" % what)


def skey(s):
    """Set/sort key for strings: their UTF-8 bytes."""
    return s.encode("utf-8")


# --------------------------------------------------------------------------
# Text-like types

def check_required(s, field):
    if not any(c not in UNICODE_WHITESPACE for c in s):
        raise DecodeError("required text %s is empty or whitespace" % field)
    return s


def read_id(r):
    s = r.str_(64)
    if not ID_RE.fullmatch(s) or s.startswith("-") or s.endswith("-"):
        raise DecodeError("invalid Id %r" % s)
    return s


def read_caption(r):
    s = r.str_(32)
    if not CAPTION_RE.fullmatch(s):
        raise DecodeError("invalid Caption %r" % s)
    return s


def read_tag(r):
    s = r.str_(16)
    if not TAG_RE.fullmatch(s):
        raise DecodeError("invalid Tag %r" % s)
    return s


def read_country(r):
    s = r.str_(3)
    if not COUNTRY_RE.fullmatch(s):
        raise DecodeError("invalid Country %r" % s)
    return s


def read_docid(r):
    return r.fixed(32)


def read_roles(r):
    b = r.u8()
    if b & 0xC0:
        raise DecodeError("Roles bits 6/7 set")
    return b


# --------------------------------------------------------------------------
# Bodies. Each returns a dict of formatted `field.<name>` values.

def hexlist(items):
    return ",".join(x.hex() for x in items)


def body_wiki(r, version):
    page = r.fixed(16)
    parents = r.set_(lambda: read_docid(r), 64)
    title = check_required(r.str_(512), "title")
    classification = r.enum(CLASSIFICATION, "Classification")
    caption = r.option(lambda: read_caption(r))
    body = r.str_(4 * MIB)
    summary = r.str_(1024)
    return {
        "page": page.hex(),
        "parents": hexlist(parents),
        "title": title,
        "classification": CLASSIFICATION[classification],
        "caption": caption or "",
        "body_utf8_hex": body.encode("utf-8").hex(),
        "summary": summary,
    }


def body_cable(r, version):
    originator = read_id(r)
    action = r.set_(lambda: read_id(r), 256, skey)
    if not action:
        raise DecodeError("cable action set is empty")
    info = r.set_(lambda: read_id(r), 256, skey)
    if set(action) & set(info):
        raise DecodeError("cable info and action overlap")
    precedence = r.enum(PRECEDENCE, "Precedence")
    classification = r.enum(CLASSIFICATION, "Classification")
    caption = r.option(lambda: read_caption(r))
    tags = r.set_(lambda: read_tag(r), 64, skey)
    subject = check_required(r.str_(1024), "subject")
    references = r.seq(lambda: read_docid(r), 256)
    if len(set(references)) != len(references):
        raise DecodeError("duplicate cable reference")
    body = r.str_(4 * MIB)
    return {
        "originator": originator,
        "action": ",".join(action),
        "info": ",".join(info),
        "precedence": PRECEDENCE[precedence],
        "classification": CLASSIFICATION[classification],
        "caption": caption or "",
        "tags": ",".join(tags),
        "subject": subject,
        "references": hexlist(references),
        "body_utf8_hex": body.encode("utf-8").hex(),
    }


def read_marking(r, version):
    """Version 2: the cable's classification and caption. Version 1 had
    none; such documents are taken as TOP SECRET (wire-format.md)."""
    if version < 2:
        return {"classification": "TOP SECRET", "caption": ""}
    classification = r.enum(CLASSIFICATION, "Classification")
    caption = r.option(lambda: read_caption(r))
    return {"classification": CLASSIFICATION[classification],
            "caption": caption or ""}


def body_clearance(r, version):
    cable = read_docid(r)
    originator = read_id(r)
    note = r.str_(4096)
    fields = {"cable": cable.hex(), "originator": originator, "note": note}
    fields.update(read_marking(r, version))
    return fields


def body_release(r, version):
    # wire-format.md: the draft is a complete signed envelope of kind CABLE;
    # verifying the release verifies its signature too (see check_document).
    draft = r.bytes_(MAX_DOCUMENT)
    inner = decode_document(draft)
    if KIND[inner["kind"]] != "CABLE":
        raise DecodeError("released draft is a %s, not a CABLE"
                          % KIND[inner["kind"]])
    clearances = r.set_(lambda: read_docid(r), 64)
    return {"draft_id": doc_id(draft).hex(), "draft_author": inner["author"].hex(),
            "clearances": hexlist(clearances), "_embedded": [draft]}


def body_receipt(r, version):
    cable = read_docid(r)
    originator = read_id(r)
    mission = read_id(r)
    status = r.enum(RECEIPT_STATUS, "ReceiptStatus")
    fields = {"cable": cable.hex(), "originator": originator,
              "mission": mission, "status": RECEIPT_STATUS[status]}
    fields.update(read_marking(r, version))
    return fields


def read_mission(r):
    mid = read_id(r)
    name = check_required(r.str_(256), "mission name")
    country = read_country(r)
    kind = r.enum(MISSION_KIND, "MissionKind")
    return {"id": mid, "name": name, "country": country, "kind": kind}


def read_node(r):
    nid = read_id(r)
    mission = read_id(r)
    role = r.enum(NODE_ROLE, "NodeRole")
    accreditation = r.enum(CLASSIFICATION, "Classification")
    key = r.fixed(32)
    endpoint = r.option(lambda: r.str_(256))
    return {"id": nid, "mission": mission, "role": role,
            "accreditation": accreditation, "key": key, "endpoint": endpoint}


def read_person(r):
    pid = read_id(r)
    name = check_required(r.str_(256), "person name")
    mission = read_id(r)
    key = r.fixed(32)
    clearance = r.enum(CLASSIFICATION, "Classification")
    captions = r.set_(lambda: read_caption(r), 64, skey)
    roles = read_roles(r)
    return {"id": pid, "name": name, "mission": mission, "key": key,
            "clearance": clearance, "captions": captions, "roles": roles}


def read_revocation(r):
    tag = r.u8()
    if tag in (0, 1):
        value = read_id(r)
        sort_value = skey(value)
    elif tag == 2:
        value = r.varint()
        sort_value = value  # serials compared as integers
    else:
        raise DecodeError("unknown revocation subject tag 0x%02x" % tag)
    effective = r.varint()
    reason = r.str_(1024)
    return {"tag": tag, "value": value, "sort": (tag, sort_value),
            "effective_ms": effective, "reason": reason}


def strictly_ascending(items, key, what):
    for a, b in zip(items, items[1:]):
        if not key(a) < key(b):
            raise DecodeError("%s not strictly ascending" % what)


def read_term(r):
    until = r.varint()
    mission = read_id(r)
    key = r.fixed(32)
    clearance = r.enum(CLASSIFICATION, "Classification")
    captions = r.set_(lambda: read_caption(r), 64, skey)
    roles = read_roles(r)
    return {"until": until, "mission": mission, "key": key,
            "clearance": clearance, "captions": captions, "roles": roles}


def read_history(r):
    person = read_id(r)
    terms = r.seq(lambda: read_term(r), 256)
    return {"person": person, "terms": terms}


def body_roster(r, version):
    roster_version = r.varint()
    if roster_version < 1:
        raise DecodeError("roster version must be >= 1")
    ministry = check_required(r.str_(256), "ministry")
    cas = r.set_(lambda: r.fixed(32), 8)
    if not cas:
        raise DecodeError("roster has no CA fingerprint")
    crl = r.bytes_(8 * MIB)
    missions = r.seq(lambda: read_mission(r), 10000)
    strictly_ascending(missions, lambda m: skey(m["id"]), "missions")
    nodes = r.seq(lambda: read_node(r), 10000)
    strictly_ascending(nodes, lambda n: skey(n["id"]), "nodes")
    people = r.seq(lambda: read_person(r), 200000)
    strictly_ascending(people, lambda p: skey(p["id"]), "people")
    revocations = r.seq(lambda: read_revocation(r), 400000)
    strictly_ascending(revocations, lambda v: v["sort"], "revocations")
    history = r.seq(lambda: read_history(r), 200000) if version >= 2 else []
    strictly_ascending(history, lambda h: skey(h["person"]), "history")

    mission_ids = {m["id"] for m in missions}
    for n in nodes:
        if n["mission"] not in mission_ids:
            raise DecodeError("node %s names unlisted mission" % n["id"])
    for p in people:
        if p["mission"] not in mission_ids:
            raise DecodeError("person %s names unlisted mission" % p["id"])
    person_ids = {p["id"] for p in people}
    for h in history:
        if h["person"] not in person_ids:
            raise DecodeError("history of unlisted person %s" % h["person"])
        if not h["terms"]:
            raise DecodeError("empty history of %s" % h["person"])
        strictly_ascending(h["terms"], lambda t: t["until"], "person terms")
        for t in h["terms"]:
            if t["mission"] not in mission_ids:
                raise DecodeError("term names unlisted mission")
    # A key signs for one node, or for one person in any of their terms.
    owner = {}
    for n in nodes:
        if n["key"] in owner:
            raise DecodeError("signing key appears more than once")
        owner[n["key"]] = ("node", n["id"])
    for p in people:
        keys = {p["key"]} | {t["key"] for h in history
                             if h["person"] == p["id"] for t in h["terms"]}
        for k in keys:
            if k in owner:
                raise DecodeError("signing key appears more than once")
            owner[k] = ("person", p["id"])
    return {
        "version": str(roster_version),
        "ministry": ministry,
        "ca_fingerprints": hexlist(cas),
        "crl": crl.hex(),
        "missions": ",".join(m["id"] for m in missions),
        "nodes": ",".join(n["id"] for n in nodes),
        "people": ",".join(p["id"] for p in people),
        # wire-format.md section 5: a roster vector gives the number of
        # revocations as `revocation_count`.
        "revocation_count": str(len(revocations)),
        "history": ",".join(h["person"] for h in history),
    }


BODIES = {1: body_roster, 2: body_wiki, 3: body_cable, 4: body_clearance,
          5: body_release, 6: body_receipt}


# --------------------------------------------------------------------------
# Envelope

def decode_document(doc):
    if len(doc) > MAX_DOCUMENT:
        raise DecodeError("document larger than 16 MiB")
    r = Reader(doc)
    if r.fixed(4) != MAGIC:
        raise DecodeError("bad magic")
    version = r.u8()
    if version not in VERSIONS:
        raise DecodeError("unsupported version %d" % version)
    kind = r.enum(KIND, "Kind")
    author = r.fixed(32)
    created = r.varint()
    body = r.bytes_(MAX_BODY)
    signature = r.fixed(64)
    r.end("signature")
    br = Reader(body)
    fields = BODIES[kind](br, version)
    br.end("body")
    fields["kind"] = KIND[kind]
    fields["created_ms"] = str(created)
    return {"kind": kind, "author": author, "created": created,
            "signature": signature, "fields": fields}


def signed_message(doc):
    return SIGN_PREFIX + hashlib.sha256(doc[:-64]).digest()


def doc_id(doc):
    return hashlib.sha256(doc).digest()


# --------------------------------------------------------------------------
# Ed25519 verification by chapar's rule (docs/wire-format.md, "Signature"):
# ZIP-215 (cofactored equation, non-canonical point encodings accepted,
# canonical S required) plus the refusal of small-order author keys.
# Written from the document, in extended twisted Edwards coordinates.

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def decompress(b):
    """The point (X, Y, Z, T) encoded by 32 bytes, or None. As ZIP-215
    requires, a y-coordinate of P or more is taken mod P, and x = 0 with
    the sign bit set is accepted as x = 0."""
    y = (int.from_bytes(b, "little") & ((1 << 255) - 1)) % P
    sign = b[31] >> 7
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = (P - x) % P
    return (x, y, 1, x * y % P)


def point_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % P
    pb = (y1 + x1) * (y2 + x2) % P
    pc = 2 * t1 * t2 * D % P
    pd = 2 * z1 * z2 % P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_neg(a):
    x, y, z, t = a
    return ((P - x) % P, y, z, (P - t) % P)


def double_mul(m, a, n, b):
    """[m]a + [n]b, both in one pass of doublings."""
    ab = point_add(a, b)
    q = IDENTITY
    for i in reversed(range(max(m.bit_length(), n.bit_length()))):
        q = point_add(q, q)
        pick = ((m >> i) & 1, (n >> i) & 1)
        if pick == (1, 1):
            q = point_add(q, ab)
        elif pick == (1, 0):
            q = point_add(q, a)
        elif pick == (0, 1):
            q = point_add(q, b)
    return q


def times_eight_is_identity(a):
    for _ in range(3):
        a = point_add(a, a)
    x, y, z, _ = a
    return x % P == 0 and (y - z) % P == 0


BASE = decompress(bytes.fromhex(
    "5866666666666666666666666666666666666666666666666666666666666666"))


def verify_signature(author, message, signature):
    a = decompress(author)
    if a is None:
        raise SignatureError("author key is not a curve point")
    if times_eight_is_identity(a):
        raise SignatureError("weak key")
    r = decompress(signature[:32])
    if r is None:
        raise SignatureError("R is not a curve point")
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        raise SignatureError("non-canonical S")
    k = int.from_bytes(hashlib.sha512(signature[:32] + author + message)
                       .digest(), "little") % L
    # [8]R == [8]([S]B - [k]A)
    diff = point_add(r, point_neg(double_mul(s, BASE, k, point_neg(a))))
    if not times_eight_is_identity(diff):
        raise SignatureError("does not verify")


def check_document(doc):
    """Decode and verify (embedded drafts too); returns the decoded document
    or raises."""
    d = decode_document(doc)
    verify_signature(d["author"], signed_message(doc), d["signature"])
    for inner in d["fields"].pop("_embedded", []):
        check_document(inner)
    return d


# --------------------------------------------------------------------------
# Vector files

def parse_vector(text):
    entries = {}
    order = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            raise ValueError("line %d has no ':'" % n)
        key = key.strip()
        value = rest[1:] if rest.startswith(" ") else rest
        if key in entries:
            raise ValueError("duplicate key %r" % key)
        entries[key] = value
        order.append(key)
    return entries, order


def unhex(entries, key):
    if key not in entries:
        raise ValueError("missing %s" % key)
    return bytes.fromhex(entries[key].strip())


def mutation_bits(doc, name):
    """Every bit of the signature, and a deterministic sample of 400 bits
    of the rest (all of it if shorter)."""
    nbits = len(doc) * 8
    sig = range(nbits - 512, nbits)
    rest = range(nbits - 512)
    if len(rest) > 400:
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        rest = sorted(random.Random(seed).sample(rest, 400))
    return list(rest) + list(sig)


def run_mutations(doc, name):
    tried = rejected = 0
    accepted = []
    for bit in mutation_bits(doc, name):
        m = bytearray(doc)
        m[bit // 8] ^= 1 << (bit % 8)
        tried += 1
        try:
            check_document(bytes(m))
        except (DecodeError, SignatureError):
            rejected += 1
        else:
            accepted.append(bit)
    return tried, rejected, accepted


def check_valid(name, e):
    problems = []
    doc = unhex(e, "document")
    try:
        d = check_document(doc)
    except (DecodeError, SignatureError) as err:
        return None, ["rejected a valid document: %s: %s" % (err.cls, err)]

    seed = unhex(e, "author_seed")
    pk = bytes(nacl.signing.SigningKey(seed).verify_key)
    if pk != unhex(e, "author_public_key"):
        problems.append("author_public_key differs from key derived from seed")
    if pk != d["author"]:
        problems.append("envelope author differs from key derived from seed")
    if signed_message(doc) != unhex(e, "signed_message"):
        problems.append("signed_message differs")
    if d["signature"] != unhex(e, "signature"):
        problems.append("signature differs")
    if doc_id(doc) != unhex(e, "doc_id"):
        problems.append("doc_id differs")
    # Re-sign: ed25519 is deterministic, so the seed must reproduce it
    # (unless the vector says its author crafted the signature by hand).
    resigned = nacl.signing.SigningKey(seed).sign(signed_message(doc)).signature
    deterministic = e.get("deterministic_signature", "true").strip() != "false"
    if deterministic and resigned != d["signature"]:
        problems.append("signing signed_message with the seed gives a "
                        "different signature")

    nfields = 0
    for key, value in e.items():
        if not key.startswith("field."):
            continue
        nfields += 1
        fname = key[len("field."):]
        if fname not in d["fields"]:
            problems.append("vector field %r unknown to this decoder" % fname)
        elif d["fields"][fname] != value:
            problems.append("field.%s: vector %r, decoded %r"
                            % (fname, value, d["fields"][fname]))
    if nfields == 0:
        problems.append("no field.<name> lines")

    tried, rejected, accepted = run_mutations(doc, name)
    if accepted:
        problems.append("%d of %d bit flips accepted (bits %s)"
                        % (len(accepted), tried, accepted[:10]))
    return "%d fields, %d/%d bit flips rejected" % (nfields, rejected, tried), \
        problems


def check_invalid(e):
    doc = unhex(e, "document")
    expect = e.get("expect", "").strip()
    want = expect.split(":", 1)[0].strip()
    if want not in ("decode error", "signature error"):
        return None, ["unrecognised expect %r" % expect]
    try:
        check_document(doc)
    except (DecodeError, SignatureError) as err:
        got = "%s: %s" % (err.cls, err)
        if err.cls != want:
            return None, ["expected %r, got %r" % (expect, got)]
        return "rejected as %r, expect %r" % (got, expect), []
    return None, ["accepted; expected %r" % expect]


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    vdir = argv[1] if len(argv) > 1 else os.path.join(
        here, "..", "..", "docs", "vectors")
    try:
        files = sorted(f for f in os.listdir(vdir) if f.endswith(".vec"))
    except OSError as err:
        print("cannot list %s: %s" % (vdir, err))
        files = []
    passed = failed = 0
    for name in files:
        try:
            with open(os.path.join(vdir, name), encoding="utf-8") as fh:
                entries, _ = parse_vector(fh.read())
            valid = entries.get("valid", "").strip()
            if valid == "true":
                note, problems = check_valid(name, entries)
            elif valid == "false":
                note, problems = check_invalid(entries)
            else:
                note, problems = None, ["valid: must be true or false"]
        except (ValueError, OSError, UnicodeDecodeError) as err:
            note, problems = None, ["bad vector file: %s" % err]
        if problems:
            failed += 1
            print("FAIL %s: %s" % (name, "; ".join(problems)))
        else:
            passed += 1
            print("ok %s (%s)" % (name, note))
    if not files:
        print("no *.vec files found in %s" % vdir)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
