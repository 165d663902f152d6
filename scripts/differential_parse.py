#!/usr/bin/env python3
"""Differential test: `gvmc parse --format json` against BuildKit's real parser.

The PyPI package `dockerfile` embeds BuildKit v0.12.5's parser. Every Dockerfile under
testdata/parser/ is parsed by both and the nodes are compared field by field. Files whose
behaviour changed in current BuildKit (DOCKERFILE.md §13) are listed in
testdata/parser/current-buildkit.tsv with the reason; for them gvmc's output must equal the
reviewed golden file NAME.expected.json instead (current BuildKit wins).

Usage: differential_parse.py GVMC_BINARY TESTDATA_DIR
Prints one line per file and a closing 'N passed, N failed' line; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys

import dockerfile  # PyPI `dockerfile` (BuildKit v0.12.5)


def oracle(path):
    try:
        nodes = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        return {"error": str(e)}
    except UnicodeDecodeError as e:
        # The package cannot hand invalid UTF-8 back to Python; such files need a golden file.
        return {"undecodable": str(e)}
    out = []
    for n in nodes:
        original = n.original
        heredocs = [{"name": h.name, "fd": h.file_descriptor, "content": h.content} for h in n.heredocs]
        if heredocs:
            # The package glues bodies onto `original`; BuildKit's node keeps the logical line.
            suffix = "\n" + "".join(h["content"] + h["name"] + "\n" for h in heredocs)
            assert original.endswith(suffix), (path, original)
            original = original[: -len(suffix)]
        out.append({
            "cmd": n.cmd.lower(),
            "sub_cmd": n.sub_cmd.lower() if n.sub_cmd is not None else None,
            "json": n.json,
            "original": original,
            "start_line": n.start_line,
            "end_line": n.end_line,
            "flags": list(n.flags),
            "value": list(n.value),
            "heredocs": heredocs,
        })
    return out


def ours(binary, path):
    proc = subprocess.run([binary, "parse", "--format", "json", path], capture_output=True)
    try:
        doc = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        return {"crash": proc.returncode, "stderr": proc.stderr.decode("utf-8", "replace")}
    if isinstance(doc, dict) and "error" in doc:
        if proc.returncode != 1:
            return {"crash": proc.returncode, "stderr": "error document with exit code %d" % proc.returncode}
    elif proc.returncode != 0:
        return {"crash": proc.returncode, "stderr": proc.stderr.decode("utf-8", "replace")}
    return doc


def compare(expected, actual):
    """Returns a list of differences (empty when equal)."""
    if isinstance(expected, dict) or isinstance(actual, dict):
        if isinstance(expected, dict) and isinstance(actual, dict) and "error" in expected and "error" in actual:
            # BuildKit's message must appear in ours (ours adds file:line:column).
            if expected["error"] in actual["error"]:
                return []
            return ["error message: expected %r in %r" % (expected["error"], actual["error"])]
        return ["expected %s, got %s" % (json.dumps(expected)[:300], json.dumps(actual)[:300])]
    diffs = []
    if len(expected) != len(actual):
        diffs.append("node count: expected %d, got %d" % (len(expected), len(actual)))
    for i, (e, a) in enumerate(zip(expected, actual)):
        for key in ("cmd", "sub_cmd", "json", "original", "start_line", "end_line", "flags", "value", "heredocs"):
            if key == "heredocs" and e["cmd"] == "onbuild":
                continue  # the package does not show ONBUILD trigger heredocs
            if e.get(key) != a.get(key):
                diffs.append("node %d (line %s) %s: expected %r, got %r" % (i, e["start_line"], key, e.get(key), a.get(key)))
    return diffs


def main():
    binary, testdata = sys.argv[1], sys.argv[2]
    divergent = {}
    tsv = os.path.join(testdata, "current-buildkit.tsv")
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, reason = line.rstrip("\n").split("\t", 1)
                divergent[name] = reason
    passed = failed = 0
    for name in sorted(os.listdir(testdata)):
        if not name.endswith(".Dockerfile"):
            continue
        path = os.path.join(testdata, name)
        stem = name[: -len(".Dockerfile")]
        actual = ours(binary, path)
        if stem in divergent:
            with open(os.path.join(testdata, stem + ".expected.json"), encoding="utf-8") as f:
                expected = json.load(f)
            source = "golden (current BuildKit: %s)" % divergent[stem]
            # The oracle must really disagree, or the entry is stale.
            if not compare(oracle(path), expected):
                print("FAIL %s: listed as divergent but BuildKit v0.12.5 agrees; drop it from current-buildkit.tsv" % name)
                failed += 1
                continue
        else:
            expected = oracle(path)
            source = "BuildKit v0.12.5"
        diffs = compare(expected, actual)
        if diffs:
            failed += 1
            print("FAIL %s vs %s:" % (name, source))
            for d in diffs[:10]:
                print("    " + d)
        else:
            passed += 1
            print("ok   %s (%s)" % (name, source))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
