#!/usr/bin/env python3
"""Regenerate mambaenv/catalog/data/conda-forge.json: the builds conda-forge's mamba-ssm and causal-conv1d feedstocks made.

Maintainer tool, not shipped. It walks the first-parent history of git copies of
``conda-forge/mamba-ssm-feedstock`` and ``conda-forge/causal-conv1d-feedstock`` and, at every commit CI built
(``[ci skip]`` commits are not), reads the recipe (``recipe/recipe.yaml``, or the older ``recipe/meta.yaml``:
version, build number, the pytorch it pins, whether the build string names the CUDA) and every
``.ci_support/*.yaml`` variant (platform, CUDA compiler, Python, the pytorch pin, the c_stdlib glibc). Each
distinct (version, build number, platform, CUDA, Python, pytorch) is one build, with the commit and day that
first made it. These are the builds the feedstock asked CI for: the channel's own listing is the authority.

mamba-ssm's recipe leaves pytorch unpinned (``pytorch * cuda*``) since its v1 recipe, so such a build says
``pytorch: null`` and, as ``pytorch_pinning_then``, the pytorch conda-forge's pinning named that day, read from
the causal-conv1d feedstock's variants (which the pinning bot rebuilds at each pytorch migration).

Usage:
    python tools/regen_conda_forge.py --mamba /path/to/mamba-ssm-feedstock.git --causal /path/to/causal-conv1d-feedstock.git

Needs PyYAML (maintainers only).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml
from regen_catalog import git, show  # the same git reading as the catalog's regeneration (tools/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mambaenv" / "catalog" / "data" / "conda-forge.json"
FEEDSTOCKS = {"mamba_ssm": ("conda-forge/mamba-ssm-feedstock", "mamba-ssm"),
              "causal_conv1d": ("conda-forge/causal-conv1d-feedstock", "causal-conv1d")}
# Variants CI was asked for that cannot have produced a package (checked against the feedstock's next commits).
NOT_BUILT = {("mamba_ssm", "win-64"): "mamba's kernels do not compile with MSVC; the feedstock's next commit skips Windows (#2)"}
CI_SKIP = re.compile(r"\[(ci skip|skip ci)\]|\*\*\*NO_CI\*\*\*")
_PIN_VAR = re.compile(r"^\s*-\s*\"?pytorch\s+\$?\{\{\s*pytorch\s*\}\}", re.M)  # pytorch ${{ pytorch }}.* : the variant
_PIN_TEXT = re.compile(r"^\s*-\s*\"?pytorch\s+(\d+\.\d+)\.\*", re.M)  # pytorch 2.7.*


def recipe_facts(text: str) -> dict:
    """Version, build number and pytorch pin of a v1 recipe.yaml or a v0 meta.yaml (Jinja set lines)."""
    if text.startswith("schema_version") or "${{" in text:
        doc = yaml.safe_load(text)
        ctx = doc.get("context", {})
        version = str(ctx["version"])
        if "[:3]" in str(doc["package"]["version"]):  # mamba-ssm: ".postN" only marks wheel rebuilds upstream
            version = ".".join(version.split(".")[:3])
        number = doc["build"]["number"]
        number = ctx.get("build_number", 0) if isinstance(number, str) else number
        string = str(doc["build"].get("string", ""))
    else:
        version = re.search(r"""\{%\s*set\s+version\s*=\s*["']([^"']+)["']""", text).group(1)
        number, string = int(re.search(r"^\s+number:\s*(\d+)", text, re.M).group(1)), ""
    pin = _PIN_TEXT.search(text)
    return {"version": version, "build": int(number), "pytorch_pin": pin.group(1) if pin else None,
            "pytorch_variant": bool(_PIN_VAR.search(text)) or "- pytorch\n" in text, "cuda_in_build_string": "cuda" in string}


def variant_facts(text: str) -> dict | None:
    """One .ci_support/*.yaml: platform, CUDA, Python, pytorch, glibc; None for a CPU variant."""
    doc = yaml.safe_load(text)
    cuda = str((doc.get("cuda_compiler_version") or ["None"])[0])
    if cuda == "None":
        return None
    stdlib = str((doc.get("c_stdlib_version") or [""])[0])
    return {"platform": doc["target_platform"][0], "cuda": cuda, "python": str(doc["python"][0]).split(".*")[0],
            "pytorch": str(doc["pytorch"][0]) if "pytorch" in doc else None,
            "glibc": stdlib if re.fullmatch(r"\d+\.\d+", stdlib) else None}


def builds_at(gitdir: str, commit: str) -> list[dict]:
    """The builds the feedstock's state at ``commit`` asks CI for."""
    text = show(gitdir, commit, "recipe/recipe.yaml") or show(gitdir, commit, "recipe/meta.yaml")
    names = [n for n in git(gitdir, "ls-tree", "--name-only", f"{commit}:.ci_support").split() if n.endswith(".yaml")] \
        if show(gitdir, commit, ".ci_support/README") is not None else []
    if not text or not names:
        return []
    recipe = recipe_facts(text)
    out = []
    for name in names:
        v = variant_facts(show(gitdir, commit, f".ci_support/{name}"))
        if v is None:
            continue
        pytorch = v["pytorch"] if recipe["pytorch_variant"] else recipe["pytorch_pin"]
        out.append({"version": recipe["version"], "build": recipe["build"], **v, "pytorch": pytorch,
                    "cuda_in_build_string": recipe["cuda_in_build_string"]})
    return out


def package_record(package: str, gitdir: str) -> dict:
    seen, builds = set(), []
    for line in git(gitdir, "log", "--first-parent", "--reverse", "--format=%H %cs %s").splitlines():
        commit, date, subject = line.split(" ", 2)
        if CI_SKIP.search(subject):
            continue
        for b in builds_at(gitdir, commit):
            if (package, b["platform"]) in NOT_BUILT:
                continue
            key = tuple(b[k] for k in ("version", "build", "platform", "cuda", "python", "pytorch"))
            if key not in seen:
                seen.add(key)
                builds.append({**b, "commit": commit, "date": date})
    feedstock, name = FEEDSTOCKS[package]
    return {"feedstock": feedstock, "name": name, "read_at": git(gitdir, "rev-parse", "HEAD").strip(), "builds": builds}


def add_pinning_then(builds: list[dict], reference: list[dict]) -> None:
    """For builds without a pytorch pin: the pytorch the reference feedstock was built against on or before that day."""
    pinned = sorted((b["date"], b["pytorch"]) for b in reference if b["pytorch"])
    for b in builds:
        if b["pytorch"] is None:
            then = [v for day, v in pinned if day <= b["date"]]
            b["pytorch_pinning_then"] = then[-1] if then else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mamba", required=True, help="git dir of conda-forge/mamba-ssm-feedstock")
    ap.add_argument("--causal", required=True, help="git dir of conda-forge/causal-conv1d-feedstock")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    data = {"schema": 1, "channel": "conda-forge",
            "packages": {p: package_record(p, g) for p, g in (("mamba_ssm", args.mamba), ("causal_conv1d", args.causal))}}
    for record in data["packages"].values():
        add_pinning_then(record["builds"], data["packages"]["causal_conv1d"]["builds"])
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
