#!/usr/bin/env python3
"""Verifies a Quire audit chain without Quire: Python's standard library and docs/audit-format.md.

    python3 scripts/verify_chain.py CHAIN.json
        CHAIN.json: {"head": {"seq": N, "hash": "..."}, "entries": [entry, ...]} with entries
        oldest first (GET /audit pages reversed; head from GET /audit/verify), or a bare list of
        entries (the last entry is then taken as the head).
    python3 scripts/verify_chain.py --vectors shared/core/tests/vectors/audit-chain.json
        checks every test vector's recorded verdict (make test runs this).
"""
import hashlib
import json
import sys

GENESIS = "0" * 64
ENTRY_FIELDS = {"seq", "prevHash", "hash", "event"}
FORMAT_VERSIONS = {1}  # the event format versions this verifier knows (docs/audit-format.md)
EVENT_FIELDS = {"v", "eventId", "orgId", "at", "actor", "action", "target", "before", "after", "reason", "origin"}
ACTOR_FIELDS = {"userId", "displayName", "email", "role", "impersonator"}
TARGET_FIELDS = {"type", "id"}
ORIGIN_FIELDS = {"ip", "userAgent", "correlationId"}
MAX_SAFE = 2**53 - 1


def canonical(value):
    """RFC 8785 (JCS) for the values entries hold: integers only, keys in UTF-16 order."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE:
            raise ValueError("integer beyond 2^53")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(canonical(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise ValueError(f"{type(value).__name__} cannot be canonicalised")


def readable(entry):
    """The entry has exactly the specified fields (an added field is tampering too)."""
    if not isinstance(entry, dict) or set(entry) != ENTRY_FIELDS:
        return False
    event = entry["event"]
    return (
        isinstance(event, dict) and set(event) == EVENT_FIELDS
        and type(event["v"]) is int and event["v"] in FORMAT_VERSIONS
        and isinstance(event["actor"], dict) and set(event["actor"]) == ACTOR_FIELDS
        and isinstance(event["target"], dict) and set(event["target"]) == TARGET_FIELDS
        and isinstance(event["origin"], dict) and set(event["origin"]) == ORIGIN_FIELDS
        and isinstance(entry["seq"], int) and isinstance(entry["prevHash"], str) and isinstance(entry["hash"], str)
    )


def link_hash(prev_hash, entry):
    content = canonical({"seq": entry["seq"], "prevHash": prev_hash, "event": entry["event"]}).encode("utf-8")
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def verify(entries, head):
    """Returns (valid, checked, broken_at): broken_at is the first sequence number that fails."""
    expected, prev, checked = 1, GENESIS, 0
    for entry in entries:
        if not readable(entry) or entry["seq"] != expected or entry["prevHash"] != prev:
            return False, checked, expected
        try:
            digest = link_hash(prev, entry)
        except ValueError:
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


def main(argv):
    if len(argv) == 3 and argv[1] == "--vectors":
        with open(argv[2], encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        failures = 0
        for case in cases:
            valid, _, broken_at = verify(case["entries"], case["head"])
            ok = valid == case["valid"] and broken_at == case["brokenAt"]
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {case['name']}: valid={valid} brokenAt={broken_at}")
        print(f"verify_chain: {len(cases) - failures} passed, {failures} failed")
        return 1 if failures else 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        chain = json.load(f)
    if isinstance(chain, list):
        entries = chain
        head = {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]} if entries else {"seq": 0, "hash": GENESIS}
    else:
        entries, head = chain["entries"], chain["head"]
    valid, checked, broken_at = verify(entries, head)
    print(json.dumps({"valid": valid, "checked": checked, "brokenAt": broken_at}))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
