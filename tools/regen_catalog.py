#!/usr/bin/env python3
"""Regenerate mambaenv/catalog/data/releases.json from upstream git history.

Maintainer tool, not shipped. It reads, at every release tag of each upstream repository, the
package's own ``__init__.py`` (the version its files carry), ``setup.py`` (which URL pip's guesser
asks for) and the release workflow (the build matrix, the CUDA tag format, the torch/CUDA table
that decides which cells can build, NGC container builds). The output is compact: one build
matrix per release; ``mambaenv.catalog`` expands it into wheel files at run time.

Usage:
    python tools/regen_catalog.py --mamba /path/to/mamba.git --causal /path/to/causal-conv1d.git

Needs PyYAML (maintainers only).
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "mambaenv" / "catalog" / "data" / "releases.json"

# GitHub retired hosted runner images on these dates: a tag pushed later whose workflow still asks
# for that image gets no runner, so its release ends up without wheels.
RUNNER_RETIRED = {"ubuntu-20.04": "2025-04-15", "ubuntu-18.04": "2023-04-03"}

# Facts that the sources at the tag cannot show (the workflow failed for reasons outside the repo).
# Each one was checked against the release's real asset list.
OVERRIDES = {
    ("causal_conv1d", "v1.5.3"): {"no_wheels_reason": "its release workflow failed; the release has no wheel assets"},
}

# The NGC check script looks at the current month and the six before it (MONTHS_TO_CHECK=7).
NGC_MONTHS_FALLBACK = 7

PACKAGES = {
    "mamba_ssm": {"repo": "state-spaces/mamba", "init": "mamba_ssm/__init__.py"},
    "causal_conv1d": {"repo": "Dao-AILab/causal-conv1d", "init": "causal_conv1d/__init__.py"},
}


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True).stdout


def show(gitdir: str, tag: str, path: str) -> str | None:
    try:
        return git(gitdir, "show", f"{tag}:{path}")
    except subprocess.CalledProcessError:
        return None


def tag_key(tag: str):
    from packaging.version import Version

    return Version(tag.lstrip("v"))


def as_str_list(values) -> list[str]:
    return [str(v) for v in values]


def parse_matrix(workflow: dict) -> tuple[dict, list, list]:
    job = workflow["jobs"]["build_wheels"]
    matrix = job["strategy"]["matrix"]
    axes = {
        "os": as_str_list(matrix["os"]),
        "python": as_str_list(matrix["python-version"]),
        "torch": as_str_list(matrix["torch-version"]),
        "cuda": as_str_list(matrix["cuda-version"]),
        "cxx11_abi": [str(v).upper() for v in matrix.get("cxx11_abi", ["FALSE"])],
    }
    rename = {"python-version": "python", "torch-version": "torch", "cuda-version": "cuda"}

    def cells(entries):
        out = []
        for entry in entries or []:
            out.append({rename.get(k, k): (str(v).upper() if k == "cxx11_abi" else str(v)) for k, v in entry.items()})
        return out

    return axes, cells(matrix.get("exclude")), cells(matrix.get("include"))


def parse_torch_cuda_table(text: str) -> dict | None:
    """The workflow picks torch's CUDA build from a table keyed by torch major.minor."""
    flat = text.replace("\\\n", " ")
    minv = re.search(r"minv\s*=\s*(\{[^}]*\})", flat)
    maxv = re.search(r"maxv\s*=\s*(\{[^}]*\})", flat)
    if minv and maxv:
        return {"kind": "clamp", "min": ast.literal_eval(minv.group(1)), "max": ast.literal_eval(maxv.group(1))}
    avail = re.search(r"available\s*=\s*(\{.*?\})\s*\[", flat, re.S)
    if avail:
        return {"kind": "highest_not_above", "available": ast.literal_eval(avail.group(1))}
    return None


def cuda_tag_style(text: str) -> str:
    m = re.search(r"tmpname=cu\$\{(\w+)\}", text)
    if not m:
        raise SystemExit("cannot find the wheel-name rule (tmpname=cu${...}) in the workflow")
    return {"MATRIX_CUDA_VERSION": "major_minor", "WHEEL_CUDA_VERSION": "major"}[m.group(1)]


def setup_py_facts(setup_py: str) -> dict:
    """What the tag's setup.py asks for when pip installs the sdist."""
    major_only = re.search(r"cuda_version\s*=\s*f\"\{torch_cuda_version\.major\}\"", setup_py)
    return {
        "cuda_tag_style": "major" if major_only else "major_minor",
        "platform": "native" if "platform.machine()" in setup_py or "uname" in setup_py else "linux_x86_64",
        "ngc_aware": "NVIDIA_PYTORCH_VERSION" in setup_py,
    }


def ngc_months(tag_date: dt.date, script: str) -> list[str]:
    m = re.search(r"MONTHS_TO_CHECK=(\d+)", script)
    n = int(m.group(1)) if m else NGC_MONTHS_FALLBACK
    months, y, mo = [], tag_date.year, tag_date.month
    for _ in range(n):
        months.append(f"{y % 100:02d}.{mo:02d}")
        mo -= 1
        if mo == 0:
            y, mo = y - 1, 12
    return sorted(months)


def era_of(style: str, setup_style: str, has_build_script: bool) -> str:
    if has_build_script:
        return "C"
    if style == "major":
        return "B"
    return "A'" if setup_style == "major" else "A"


def release_record(package: str, gitdir: str, tag: str) -> dict:
    init = show(gitdir, tag, PACKAGES[package]["init"]) or ""
    version = re.search(r"__version__\s*=\s*[\"']([^\"']+)", init).group(1)
    date = dt.date.fromisoformat(git(gitdir, "log", "-1", "--format=%cs", tag).strip())
    publish_text = show(gitdir, tag, ".github/workflows/publish.yaml")
    build_yml = show(gitdir, tag, ".github/workflows/_build.yml") or ""
    build_sh = show(gitdir, tag, ".github/scripts/build.sh")
    ngc_script = show(gitdir, tag, ".github/scripts/check_for_ngc_images.sh")
    setup = setup_py_facts(show(gitdir, tag, "setup.py") or "")
    workflow = yaml.safe_load(publish_text)
    axes, exclude, include = parse_matrix(workflow)
    all_text = "\n".join(t for t in (publish_text, build_yml, build_sh or "") if t)
    style = cuda_tag_style(all_text)
    record = {
        "tag": tag,
        "date": date.isoformat(),
        "package_version": version,
        "era": era_of(style, setup["cuda_tag_style"], build_sh is not None),
        "cuda_tag_style": style,
        "setup_py": setup,
        "matrix": axes,
        "exclude": exclude,
        "include": include,
        "torch_cuda_table": parse_torch_cuda_table(all_text),
        "ngc": None,
        "no_wheels_reason": None,
    }
    if ngc_script and "build_ngc_wheels" in workflow["jobs"]:
        ngc_job = workflow["jobs"]["build_ngc_wheels"]
        record["ngc"] = {"os": as_str_list(ngc_job["strategy"]["matrix"]["os"]), "months": ngc_months(date, ngc_script)}
    for runner in axes["os"]:
        retired = RUNNER_RETIRED.get(runner)
        if retired and date.isoformat() > retired:
            record["no_wheels_reason"] = f"its workflow asks for the {runner} runner, retired on {retired}, so no wheel was built"
    record.update(OVERRIDES.get((package, tag), {}))
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mamba", required=True, help="git dir of state-spaces/mamba")
    ap.add_argument("--causal", required=True, help="git dir of Dao-AILab/causal-conv1d")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    data = {"schema": 1, "packages": {}}
    for package, gitdir in (("mamba_ssm", args.mamba), ("causal_conv1d", args.causal)):
        tags = sorted((t for t in git(gitdir, "tag").split() if t.startswith("v")), key=tag_key)
        data["packages"][package] = {
            "repo": PACKAGES[package]["repo"],
            "releases": [release_record(package, gitdir, t) for t in tags],
        }
    Path(args.out).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
