#!/usr/bin/env python3
"""Regenerate mambaenv/catalog/data/astral.json: what Astral's per-CUDA GPU indexes publish for both packages.

Maintainer tool, not shipped. It reads, in copies of ``astral-sh-build/build-mamba`` and
``astral-sh-build/build-causal-conv1d``:

- ``README.md``: the versions the index carries and, for the newest, the table of PyTorch releases with
  their Pythons and the CUDA versions built per machine (x86_64, aarch64);
- ``plan-matrix.py``: ``TORCH_GLIBC_VERSION`` (the manylinux policy auditwheel repairs to, per torch
  major.minor) and the C++ ABI rule, which is checked to be the one this tool knows.

A torch in the README table that ``TORCH_GLIBC_VERSION`` lacks gets the newest torch's policy and says so
(``glibc_from``). Each copy is a git dir (HEAD is read, its commit recorded) or a folder holding the two
files and a ``COMMITS`` file (``README.md <sha>`` per line) saying which commit they were read at.

Usage:
    python tools/regen_astral.py --mamba /path/to/build-mamba --causal /path/to/build-causal-conv1d
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mambaenv" / "catalog" / "data" / "astral.json"
REPOS = {"mamba_ssm": ("astral-sh-build/build-mamba", "mamba-ssm"),
         "causal_conv1d": ("astral-sh-build/build-causal-conv1d", "causal-conv1d")}

# astral-sh-build/_build-index README.md: "Index URLs have this form: https://wheels.astral.sh/simple/<channel>/";
# channels are cu<major><minor> (docs/CHANNELS.md), inferred from each wheel's +cu.X.Y local version.
INDEX = "https://wheels.astral.sh/simple/{channel}/"

# plan-matrix.py: cxx11_abi = torch >= 2.7.0 or (torch == 2.6.0 and cuda >= 12.6), after pytorch.org/blog/pytorch2-6
# (PyTorch's own 2.6 CUDA 12.6 wheels are the first built with the C++11 ABI). Astral installs torch from
# download.pytorch.org/whl/cu<XY> and passes this as MAMBA_FORCE_CXX11_ABI / CAUSAL_CONV1D_FORCE_CXX11_ABI, which
# setup.py only ever turns on: a wheel has the ABI of the PyTorch build it was compiled against.
ABI_RULE = {"from_torch": "2.7", "torch_2_6_from_cuda": "12.6"}
ABI_TEXT = (re.compile(r'torch_version_parsed\s*>=\s*Version\("2\.7\.0"\)\s*or\s*\(\s*torch_version_parsed\s*==\s*Version\("2\.6\.0"\)'
                       r'\s*and\s*cuda_version_parsed\s*>=\s*Version\("12\.6"\)\s*\)'))

_VERSION_ITEM = re.compile(r"^- \[`(?P<version>[^`]+)`\]\((?P<url>[^)]+)\)", re.M)
_LATEST = re.compile(r"The latest release, .*?(?P<version>\d+(?:\.\w+)+), supports", re.S)
_ROW = re.compile(r"^\|\s*(?P<torch>\d+\.\d+\.\d+)\s*\|(?P<py>[^|]+)\|(?P<x86>[^|]+)\|(?P<arm>[^|]+)\|\s*$", re.M)
_GLIBC = re.compile(r"TORCH_GLIBC_VERSION\s*(?::[^=]+)?=\s*(\{[^}]*\})")


def read_copy(path: Path, name: str) -> tuple[str, str]:
    """(text, commit) of one file of a git dir's HEAD or of a folder with a COMMITS file."""
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        git = ["git", "--git-dir", str(path)]
        text = subprocess.run([*git, "show", f"HEAD:{name}"], check=True, capture_output=True, text=True).stdout
        return text, subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    commits = dict(line.split() for line in (path / "COMMITS").read_text().splitlines() if line.strip())
    return (path / name).read_text(), commits[name]


def python_range(text: str) -> list[str]:
    """``3.9–3.12`` (an en dash in the README) -> ["3.9", "3.10", "3.11", "3.12"]."""
    low, high = (int(p.split(".")[1]) for p in re.split(r"\s*[–-]\s*", text.strip()))
    return [f"3.{m}" for m in range(low, high + 1)]


def cuda_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if re.fullmatch(r"\d+\.\d+", c.strip())]


def glibc_for(torch: str, table: dict[str, str]) -> tuple[str, str]:
    """(glibc floor "2.28", where it came from) for a torch release."""
    mm = ".".join(torch.split(".")[:2])
    if mm in table:
        return table[mm].replace("_", "."), "plan-matrix.py"
    newest = max(table, key=lambda v: tuple(int(x) for x in v.split(".")))
    return table[newest].replace("_", "."), f"not in plan-matrix.py: torch {newest}'s policy"


def package_record(package: str, path: Path) -> dict:
    readme, readme_commit = read_copy(path, "README.md")
    plan, plan_commit = read_copy(path, "plan-matrix.py")
    if not ABI_TEXT.search(plan):
        raise SystemExit(f"{path}/plan-matrix.py: the cxx11 ABI rule is not the one ABI_RULE encodes; read it and update the tool")
    glibc = ast.literal_eval(_GLIBC.search(plan).group(1))
    rows = []
    for m in _ROW.finditer(readme):
        floor, origin = glibc_for(m["torch"], glibc)
        rows.append({"torch": m["torch"], "pythons": python_range(m["py"]), "glibc": floor, "glibc_from": origin,
                     "cuda": {"x86_64": cuda_list(m["x86"]), "aarch64": cuda_list(m["arm"])}})
    repo, project = REPOS[package]
    return {"repo": repo, "project": project, "sources": {"README.md": readme_commit, "plan-matrix.py": plan_commit},
            "versions": [v["version"] for v in _VERSION_ITEM.finditer(readme)], "version": _LATEST.search(readme)["version"],
            "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mamba", type=Path, required=True, help="copy of astral-sh-build/build-mamba (git dir or folder)")
    ap.add_argument("--causal", type=Path, required=True, help="copy of astral-sh-build/build-causal-conv1d")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    data = {"schema": 1, "index": INDEX, "local_version": "cu.{cuda}.torch.{torch}", "cxx11_abi": ABI_RULE,
            "packages": {p: package_record(p, path) for p, path in (("mamba_ssm", args.mamba), ("causal_conv1d", args.causal))}}
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
