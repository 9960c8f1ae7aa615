#!/usr/bin/env python3
"""Verifies a Quire audit chain without Quire: Python's standard library and docs/audit-format.md.

    python3 scripts/verify_chain.py --org ORG_ID CHAIN.json
        CHAIN.json: {"head": {"seq": N, "hash": "..."}, "entries": [entry, ...], "blobs": {digest:
        content}} with entries oldest first (GET /audit pages reversed), the head read before
        them (`headSeq` and `headHash` of GET /audit/verify), and every blob the entries
        reference (the pages' `blobs`, and GET /audit/blobs/{sha256} for `blobsOmitted`). ORG_ID
        is the organisation the chain must belong to (`orgId` of GET /audit/verify): every
        entry's event.orgId must name it. Entries past the head were appended after it was read
        and are left out.
    python3 scripts/verify_chain.py --vectors shared/core/tests/vectors/audit-chain.json
        checks every test vector's recorded verdict, through the verifier and through the
        export reader above (make test runs this).

The input is read strictly, as the format requires: a duplicate member name, a number that is
not an integer, -0, NaN or Infinity, or a lone surrogate makes the entry holding it unreadable.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64
MAX_SAFE = 2**53 - 1
# How deep `before` and `after` may nest: a scalar is depth 0, each object or array around it
# adds one (canonical::strict::MAX_DEPTH in Quire; DynamoDB nests at most 32 levels).
MAX_DEPTH = 32
FORMAT_VERSIONS = {1}  # the event format versions this verifier knows (docs/audit-format.md)
# Every action name of format version 1 (docs/audit-format.md, "Actions").
ACTIONS = {
    "organisation.created",
    "member.added",
    "document.created",
    "document.updated",
    "audit.verification.started",
    "audit.verified",
    "sign-in.succeeded",
    "sign-in.failed",
    "sign-in.locked",
    "sign-in.unlocked",
    "rate-limit.tripped",
    "password.reset.requested",
    "password.reset",
    "password.reset.failed",
    "sign-in.challenged",
    "session.refreshed",
    "session.expired",
    "session.signed-out",
    "sessions.revoked",
    "password.changed",
    "password.change.failed",
    "mfa.enrolled",
    "mfa.challenge.passed",
    "mfa.challenge.failed",
    "organisation.registered",
    "registration.refused",
    "registration.confirmed",
    "registration.confirm.failed",
    "registration.code.requested",
    "registration.expired",
    "mfa.disabled",
    "reauthentication.failed",
    "organisation.updated",
    "member.role.changed",
    "member.deactivated",
    "member.reactivated",
    "invitation.created",
    "invitation.revoked",
    "invitation.used",
    "join.refused",
    "join.requested",
    "operator.organisation.changed",
    "impersonation.started",
    "impersonation.ended",
    "operator.break-glass.opened",
    "operator.break-glass.request",
    "operator.break-glass.closed",
    "document.version.created",
    "document.transitioned",
    "document.signed",
    "document.route.reassigned",
    "attachment.requested",
    "attachment.accepted",
    "attachment.rejected",
    "attachment.downloaded",
    "attachment.integrity-failed",
    "audit.exported",
    "document.exported",
}


class Refused(ValueError):
    """Input the format does not allow."""


def _members(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise Refused(f"duplicate member {name!r}")
        obj[name] = value
    return obj


def _integer(text):
    if text == "-0":
        raise Refused("-0")
    return int(text)


def _not_integer(text):
    raise Refused(f"{text} is not an integer")


def strict_loads(text):
    """json.loads refusing what the format refuses (duplicates, non-integers, -0, NaN)."""
    return json.loads(text, object_pairs_hook=_members, parse_int=_integer,
                      parse_float=_not_integer, parse_constant=_not_integer)


class _Unreadable:
    """What the format refuses (-0, a non-integer), kept in place so only its entry breaks."""


class _DuplicateMembers(dict):
    """An object that had a duplicate member name: never an entry, never canonicalised."""


def _marking_members(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            return _DuplicateMembers()
        obj[name] = value
    return obj


def marking_loads(text):
    """Reads a whole export, marking (not raising on) what strict_loads refuses, so that a
    refused value breaks the entry holding it and no other."""
    return json.loads(text, object_pairs_hook=_marking_members,
                      parse_int=lambda t: _Unreadable() if t == "-0" else int(t),
                      parse_float=lambda t: _Unreadable(), parse_constant=lambda t: _Unreadable())


def canonical(value):
    """RFC 8785 (JCS) for the values entries hold: integers only, keys in UTF-16 order."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE:
            raise Refused("integer beyond 2^53")
        return str(value)
    if isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate has no UTF-8 form: UnicodeEncodeError
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if type(value) is dict:
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(canonical(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise Refused(f"{type(value).__name__} cannot be canonicalised")


def _string(x):
    return type(x) is str


def _string_or_null(x):
    return x is None or type(x) is str


def _nested_at_most(limit):
    """Any JSON value no deeper than `limit` objects and arrays."""
    def check(x):
        pending = [(x, 0)]
        while pending:
            value, depth = pending.pop()
            if isinstance(value, (dict, list)):
                if depth >= limit:
                    return False
                pending.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
        return True
    return check


def _shape(fields):
    """An object with exactly these members (absent is not null), each of its type."""
    def check(x):
        return type(x) is dict and set(x) == set(fields) and all(ok(x[name]) for name, ok in fields.items())
    return check


ACTOR = _shape({"userId": _string, "displayName": _string, "email": _string, "role": _string,
                "impersonator": _string_or_null})
TARGET = _shape({"type": _string, "id": _string})
ORIGIN = _shape({"ip": _string_or_null, "userAgent": _string_or_null, "correlationId": _string})
EVENT = _shape({
    "v": lambda x: type(x) is int and x in FORMAT_VERSIONS,
    "eventId": _string, "orgId": _string, "at": _string, "actor": ACTOR,
    "action": lambda x: type(x) is str and x in ACTIONS,
    "target": TARGET, "before": _nested_at_most(MAX_DEPTH), "after": _nested_at_most(MAX_DEPTH), "reason": _string_or_null, "origin": ORIGIN,
})
ENTRY = _shape({"seq": lambda x: type(x) is int, "prevHash": _string, "hash": _string, "event": EVENT})


def _references(value, out):
    """Every blob reference inside value (docs/audit-format.md, "Blobs"): an object with exactly
    `$sha256` (64 lower-case hex digits) and `$bytes` (an integer)."""
    if (type(value) is dict and set(value) == {"$sha256", "$bytes"} and type(value["$sha256"]) is str
            and len(value["$sha256"]) == 64 and all(c in "0123456789abcdef" for c in value["$sha256"])
            and type(value["$bytes"]) is int and value["$bytes"] >= 0):
        out.append((value["$sha256"], value["$bytes"]))
    elif type(value) is dict:
        for item in value.values():
            _references(item, out)
    elif type(value) is list:
        for item in value:
            _references(item, out)


def blobs_hold(entry, blobs):
    """Every blob the entry references is present, of its length in UTF-8 bytes, and hashes to
    its digest."""
    found = []
    for value in (entry["event"]["before"], entry["event"]["after"]):
        _references(value, found)
    for digest, length in found:
        content = blobs.get(digest)
        if type(content) is not str:
            return False
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            return False
        if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
            return False
    return True


def link_hash(prev_hash, entry):
    content = canonical({"seq": entry["seq"], "prevHash": prev_hash, "event": entry["event"]}).encode("utf-8")
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def verify(entries, head, org, blobs):
    """Returns (valid, checked, broken_at): broken_at is the first sequence number that fails.
    An entry that could not be read is None; blobs maps digests to contents."""
    expected, prev, checked = 1, GENESIS, 0
    for entry in entries:
        if (entry is None or not ENTRY(entry) or not blobs_hold(entry, blobs) or entry["seq"] != expected
                or entry["event"]["orgId"] != org or entry["prevHash"] != prev):
            return False, checked, expected
        try:
            digest = link_hash(prev, entry)
        except (ValueError, UnicodeEncodeError):
            return False, checked, expected
        if digest != entry["hash"]:
            return False, checked, expected
        prev, expected, checked = digest, expected + 1, checked + 1
    last = expected - 1
    if head["seq"] > last:
        return False, checked, last + 1
    if head["seq"] < last:
        return False, checked, head["seq"] + 1
    if head["hash"] != prev:
        return False, checked, max(last, 1)
    return True, checked, None


def _read_entry(text):
    try:
        return strict_loads(text)
    except (ValueError, RecursionError):  # Refused, not JSON, or nested beyond what Python reads
        return None


HEAD = _shape({"seq": lambda x: type(x) is int and x >= 0, "hash": _string})


def case_entries(case):
    """A vector's entries: as JSON values, or as JSON texts (for what a JSON value cannot hold,
    such as a duplicate member), each read strictly."""
    if "entryTexts" in case:
        return [_read_entry(text) for text in case["entryTexts"]]
    return [_read_entry(json.dumps(entry, ensure_ascii=False)) for entry in case["entries"]]


def main(argv):
    if len(argv) == 3 and argv[1] == "--vectors":
        with open(argv[2], encoding="utf-8") as f:
            cases = strict_loads(f.read())["cases"]
        failures = 0
        for case in cases:
            valid, _, broken_at = verify(case_entries(case), case["head"], case["org"], case["blobs"])
            ok = valid == case["valid"] and broken_at == case["brokenAt"]
            # The same chain as an export file, read by the export reader.
            texts = case.get("entryTexts") or [json.dumps(e, ensure_ascii=False) for e in case["entries"]]
            export = ('{"head":' + json.dumps(case["head"]) + ',"entries":[' + ",".join(texts) + '],"blobs":'
                      + json.dumps(case["blobs"], ensure_ascii=False) + "}")
            read = read_export(export, case["org"])
            # An export leaves out entries past its head: they were appended after it was read.
            past_head = any(type(e) is dict and e.get("seq", 0) > case["head"]["seq"] for e in case.get("entries", []))
            ok = ok and (past_head or (read["valid"], read["brokenAt"]) == (case["valid"], case["brokenAt"]))
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {case['name']}: valid={valid} brokenAt={broken_at}")
        print(f"verify_chain: {len(cases) - failures} passed, {failures} failed")
        return 1 if failures else 0
    if len(argv) != 4 or argv[1] != "--org":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[3], encoding="utf-8") as f:
        verdict = read_export(f.read(), argv[2])
    print(json.dumps(verdict))
    return 0 if verdict["valid"] else 1


def read_export(text, org):
    """The verdict on an export file's text: {valid, checked, brokenAt[, reason]}."""
    def unreadable(why):
        return {"valid": False, "checked": 0, "brokenAt": None, "reason": f"the export is unreadable: {why}"}

    try:
        chain = marking_loads(text)
    except (ValueError, RecursionError) as error:
        return unreadable(error)
    if (type(chain) is not dict or set(chain) != {"head", "entries", "blobs"} or type(chain["entries"]) is not list
            or type(chain["blobs"]) is not dict):
        return unreadable('expected {"head": {...}, "entries": [...], "blobs": {...}}: a chain without its head '
                          'cannot show a removed tail, nor one without its blobs an altered long value')
    head = chain["head"]
    if not HEAD(head):
        return unreadable("the head is not {seq, hash}")
    entries = [e if type(e) is dict else None for e in chain["entries"]]
    # Appended after the head was read: not part of this snapshot.
    entries = [e for e in entries if not (type(e) is dict and type(e.get("seq")) is int and e["seq"] > head["seq"])]
    valid, checked, broken_at = verify(entries, head, org, chain["blobs"])
    return {"valid": valid, "checked": checked, "brokenAt": broken_at}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
