#!/usr/bin/env python3
"""Fetch the upstream sdists the tests use, from the package index, pinned by sha256.

They land in .fixture-cache/sdists (git-ignored). Tests read them from disk and never touch
the network; this script is the one place that does, at set-up time.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import requests

INDEX = os.environ.get("MAMBAENV_FIXTURE_INDEX", "https://pypi.org/simple")
DEST = Path(__file__).resolve().parent.parent / ".fixture-cache" / "sdists"

# (project, version) the tests need; the hashes are checked against what the index says.
SDISTS = [
    ("mamba-ssm", "2.3.2.post1"),
    ("mamba-ssm", "2.2.4"),
    ("mamba-ssm", "2.2.2"),
    ("mamba-ssm", "1.2.0"),
    ("causal-conv1d", "1.7.0"),
    ("causal-conv1d", "1.5.0.post8"),
    ("causal-conv1d", "1.4.0"),
]


def main() -> int:
    DEST.mkdir(parents=True, exist_ok=True)
    s = requests.Session()
    by_project: dict[str, dict] = {}
    for project, version in SDISTS:
        filename = f"{project.replace('-', '_')}-{version}.tar.gz"
        target = DEST / filename
        if target.exists():
            continue
        if project not in by_project:
            r = s.get(f"{INDEX}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=60)
            r.raise_for_status()
            by_project[project] = {f["filename"]: f for f in r.json()["files"]}
        entry = by_project[project][filename]
        data = s.get(entry["url"], timeout=120).content
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["hashes"]["sha256"]:
            print(f"sha256 mismatch for {filename}", file=sys.stderr)
            return 1
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        print(f"fetched {filename}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
