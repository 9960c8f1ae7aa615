#!/usr/bin/env python3
"""Writes docs/traceability.md: each requirement of docs/requirements.md and the tests proving it.

A test proves requirements through a doc line directly above its test attribute (other doc
lines and attributes may sit between them):

    /// Proves: AUTHN-1, TEN-3 — optional explanation
    #[tokio::test]
    async fn name() {

usage: scripts/traceability.py [--results LOG] [--check]

  --results LOG  output of `cargo test` (stdout and stderr): marks each tagged test passed,
                 failed or not run. Without it no test counts as passed.
  --check        verify only; leave docs/traceability.md as it is.

A requirement is covered when a tagged test passed and none failed, failing when a tagged test
failed, uncovered otherwise. Exits 1 if a tag names an ID missing from docs/requirements.md, a
planned requirement (a test cannot prove what is not built; tag what is, and say so in the
requirement's note), or is not on a test, if a requirement line is malformed, or if a tagged
test failed in LOG. With --check and LOG it also exits 1 if an implemented requirement has no
passing test, or if docs/traceability.md is not what this run would write (stale: regenerate
with `make traceability` and commit it). Python 3 standard library only.
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "docs" / "requirements.md"
MATRIX = ROOT / "docs" / "traceability.md"
SKIP_DIRS = {"target", "node_modules"}

# `- **TEN-1** (implemented) Title — statement`; `(implemented: note)` limits the scope.
REQUIREMENT = re.compile(r"^- \*\*([A-Z]+-\d+)\*\* \((implemented|planned)(?::\s*([^)]*))?\) (.+?) — \S")
PROVES = re.compile(r"^\s*///\s*Proves:(.*)$")
# A tag spelt another way would be silently ignored: it is an error instead.
NEAR_PROVES = re.compile(r"^\s*//+!?\s*proves\s*:", re.I)
DOC_OR_ATTRIBUTE = re.compile(r"^\s*(///|#\[)")
TEST_ATTRIBUTE = re.compile(r"^\s*#\[\s*(\w+::)*test\b")
FN = re.compile(r"^\s*(pub(\([\w:]+\))?\s+)?(async\s+)?fn\s+(\w+)")
MOD_OPEN = re.compile(r"^(\s*)(pub(\([\w:]+\))?\s+)?mod\s+(\w+)\s*\{")
ID = re.compile(r"^[A-Z]+-\d+$")
# cargo test: `Running unittests src/lib.rs (target/debug/deps/quire_local-0123abcd)`, `test a::b ... ok`
RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+) \((?:.*[/\\])?([^/\\]+?)-[0-9a-f]+(?:\.exe)?\)")
RESULT = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")
OUTCOME = {"ok": "passed", "FAILED": "failed", "ignored": "not run"}


def read_requirements(errors):
    requirements = {}
    for number, line in enumerate(REQUIREMENTS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("- **"):
            continue
        match = REQUIREMENT.match(line)
        if not match:
            errors.append(f"{REQUIREMENTS.relative_to(ROOT)}:{number}: not `- **ID** (status) Title — statement`")
        elif match[1] in requirements:
            errors.append(f"{REQUIREMENTS.relative_to(ROOT)}:{number}: {match[1]} listed twice")
        else:
            requirements[match[1]] = {"status": match[2], "note": match[3], "title": match[4]}
    return requirements


def rust_files():
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".rs"):
                yield Path(directory) / name


def test_target(path):
    """(target source as cargo's `Running` line names it, test binary name, module path) of a file."""
    manifests = (p for p in path.parents if (p / "Cargo.toml").exists() and "[package]" in (p / "Cargo.toml").read_text())
    package = next(manifests, None)
    if package is None:  # not built by cargo: no result can name it
        return path.relative_to(ROOT).as_posix(), "", []
    name = re.search(r'^name\s*=\s*"([^"]+)"', (package / "Cargo.toml").read_text(), re.M)[1]
    parts = path.relative_to(package).parts
    if parts[0] in ("tests", "benches", "examples"):
        binary = Path(parts[1]).stem
        source = "/".join(parts[:2]) if len(parts) == 2 else f"{parts[0]}/{parts[1]}/main.rs"
        return source, binary, []
    if parts[:2] == ("src", "bin"):
        return "/".join(parts[:3]), Path(parts[2]).stem, []
    if parts == ("src", "main.rs"):
        return "src/main.rs", name, []
    modules = [*parts[1:-1], Path(parts[-1]).stem]
    return "src/lib.rs", name, [m for m in modules if m not in ("lib", "mod")]


def find_tagged_tests(errors):
    tests = []
    for path in rust_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        if not any(PROVES.match(line) for line in lines):
            continue
        relative = path.relative_to(ROOT).as_posix()
        source, binary, modules = test_target(path)
        inline = []  # (indent, name) of the `mod x {` blocks around the current line
        for number, line in enumerate(lines, 1):
            if inline and line.rstrip() == inline[-1][0] + "}":
                inline.pop()
            opened = MOD_OPEN.match(line)
            if opened:
                inline.append((opened[1], opened[4]))
            tag = PROVES.match(line)
            if not tag:
                if NEAR_PROVES.match(line):
                    errors.append(f"{relative}:{number}: write the tag as `/// Proves: ID, ID`")
                continue
            where = f"{relative}:{number}"
            ids = [i.strip() for i in re.split(r"\s+—\s+|\s+--\s+", tag[1].strip())[0].split(",")]
            for bad in [i for i in ids if not ID.match(i)]:
                errors.append(f"{where}: `{bad}` is not a requirement ID")
            follow = lines[number:]
            attached = []
            for next_line in follow:
                if not DOC_OR_ATTRIBUTE.match(next_line):
                    break
                attached.append(next_line)
            fn = FN.match(follow[len(attached)]) if len(attached) < len(follow) else None
            if not fn or not any(TEST_ATTRIBUTE.match(a) for a in attached):
                errors.append(f"{where}: `Proves:` is not directly above a test function")
                continue
            name = "::".join(modules + [m for _, m in inline] + [fn[4]])
            tests.append({"where": where, "file": relative, "line": number, "name": name,
                          "unit": (source, binary.replace("-", "_")), "ids": [i for i in ids if ID.match(i)]})
    return tests


def read_results(log):
    """{qualified test name: [((target source, binary), outcome)]}; the unit is None without `Running` lines."""
    results, unit = {}, None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        running = RUNNING.match(line)
        if running:
            unit = (running[1], running[2].replace("-", "_"))
            continue
        result = RESULT.match(line)
        if result:
            results.setdefault(result[1], []).append((unit, OUTCOME[result[2]]))
    return results


def outcome(test, results):
    if results is None:
        return "not run"
    runs = [o for unit, o in results.get(test["name"], []) if unit is None or unit == test["unit"]]
    return "failed" if "failed" in runs else "passed" if "passed" in runs else "not run"


def coverage(outcomes):
    return "failing" if "failed" in outcomes else "covered" if "passed" in outcomes else "uncovered"


def render(requirements, tests, log):
    source = f"the outcomes in `{log}`" if log else "no test results, so no test counts as passed"
    rows, counts = [], {"covered": 0, "failing": 0, "uncovered": 0}
    gaps = []
    for rid, req in requirements.items():
        proving = [t for t in tests if rid in t["ids"]]
        state = coverage([t["outcome"] for t in proving])
        counts[state] += 1
        if req["status"] == "implemented" and state != "covered":
            gaps.append(rid)
        release = req["status"] + (f" ({req['note']})" if req["note"] else "")
        cells = "<br>".join(f"`{t['name']}` [{t['file']}:{t['line']}](../{t['file']}#L{t['line']}) {t['outcome']}"
                            for t in proving) or "—"
        shown = "**failing**" if state == "failing" else state
        rows.append(f"| {rid} | {req['title']} | {release} | {shown} | {cells} |".replace("\n", " "))
    implemented = sum(r["status"] == "implemented" for r in requirements.values())
    return "\n".join([
        "# Traceability matrix",
        "",
        "Generated by `scripts/traceability.py` from the requirements in [requirements.md](requirements.md),",
        f"the `/// Proves:` tags of the test suite, and {source}. Do not edit; regenerate with",
        "`make traceability` after a test run.",
        "",
        "Coverage: **covered** = a tagged test passed and none failed; **failing** = a tagged test failed;",
        "**uncovered** = no tagged test passed (none tagged, or not run).",
        "",
        f"{len(requirements)} requirements, {implemented} implemented in this release; "
        f"{counts['covered']} covered, {counts['failing']} failing, {counts['uncovered']} uncovered; "
        f"{len(tests)} tagged tests.",
        f"Implemented but not covered: {', '.join(gaps) or 'none'}.",
        "",
        "| ID | Requirement | Release | Coverage | Tests |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]), counts, gaps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, help="cargo test output to read outcomes from")
    parser.add_argument("--check", action="store_true", help="verify only, do not write the matrix")
    args = parser.parse_args()
    if args.results and not args.results.is_file():
        parser.error(f"no such results file: {args.results}")

    errors = []
    requirements = read_requirements(errors)
    tests = find_tagged_tests(errors)
    results = read_results(args.results) if args.results else None
    for test in tests:
        test["outcome"] = outcome(test, results)
        for rid in test["ids"]:
            if rid not in requirements:
                errors.append(f"{test['where']}: {rid} is not in {REQUIREMENTS.relative_to(ROOT)}")
            elif requirements[rid]["status"] == "planned":
                errors.append(f"{test['where']}: {rid} is planned; a test cannot prove it yet")
        if test["outcome"] == "failed":
            errors.append(f"{test['where']}: {test['name']} failed (proves {', '.join(test['ids'])})")

    log = None
    if args.results:
        resolved = args.results.resolve()
        log = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(args.results)
    text, counts, gaps = render(requirements, tests, log)
    if not args.check:
        MATRIX.write_text(text, encoding="utf-8")
    elif args.results:
        for rid in gaps:
            errors.append(f"{rid} is implemented but no tagged test passed")
        committed = MATRIX.read_text(encoding="utf-8") if MATRIX.is_file() else ""
        if committed != text:
            errors.append(f"{MATRIX.relative_to(ROOT)} is stale: run `make traceability` and commit it")
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    action = "checked" if args.check else f"wrote {MATRIX.relative_to(ROOT)}"
    print(f"traceability: {len(requirements)} requirements ({summary}), {len(tests)} tagged tests; {action}")
    if args.results and gaps:
        print(f"traceability: warning: implemented but not covered: {', '.join(gaps)}", file=sys.stderr)
    for error in errors:
        print(f"traceability: error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
