#!/usr/bin/env python3
"""Regenerate mambaenv/catalog/data/releases.json (and asset-lists.json) from upstream sources.

Maintainer tool, not shipped. It reads, at every release tag of each upstream repository, the
package's own ``__init__.py`` (the version its files carry), ``setup.py`` (which URL pip's guesser
asks for, and the ``-gencode`` targets behind each nvcc-version condition) and the release workflow
(the build matrix, the CUDA tag format, the torch/CUDA table that decides which cells can build,
NGC container builds).

Real asset lists come first: ``sirati/nix-torch-bin-pascal`` keeps machine-generated copies of the
GitHub Releases API lists (``pkgs/{mamba-ssm,causal-conv1d}/binary-hashes/v*.nix``: name, URL and an
SRI sha256 per wheel). Its generator keeps only the highest ``.postN`` tag of each base version,
only assets that had a ``digest``, and drops a cxx11abiFALSE wheel whose TRUE twin is absent; so a
listed tag's files are exactly the list, and every other tag keeps the matrix expansion, marked
``predicted``. The parsed lists are shipped as ``asset-lists.json``; without ``--lists`` that file
is the input, so the catalog can be rebuilt from the two upstream git dirs alone.

A tag newer than the git copy (``LATER_TAGS``) is read from the newest commit the copy holds (workflow)
and the version's sdist on PyPI (setup.py: its architectures, platform, Python floor), and says so in its
record (``read_at``, ``prediction_note``). A list file newer than the lists' git copy comes in with
``--later-list PATH=FILE@COMMIT`` and is then kept in ``asset-lists.json`` (``source.later``) until the git
copy holds it.

Usage (``make catalog``):
    python tools/regen_catalog.py --mamba /path/to/mamba.git --causal /path/to/causal-conv1d.git \
        [--lists /path/to/nix-torch-bin-pascal.git] [--sdists DIR] [--later-list PATH=FILE@COMMIT]

Needs PyYAML (maintainers only).
"""
from __future__ import annotations

import argparse
import ast
import base64
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "mambaenv" / "catalog" / "data" / "releases.json"
LISTS_OUT = OUT.with_name("asset-lists.json")
LISTS_REPO = "sirati/nix-torch-bin-pascal"
LISTS_DIRS = {"mamba_ssm": "pkgs/mamba-ssm/binary-hashes", "causal_conv1d": "pkgs/causal-conv1d/binary-hashes"}

# GitHub retired hosted runner images on these dates: a tag pushed later whose workflow still asks
# for that image gets no runner, so its release ends up without wheels.
RUNNER_RETIRED = {"ubuntu-20.04": "2025-04-15", "ubuntu-18.04": "2023-04-03"}

# Facts that the sources at the tag cannot show (the workflow failed for reasons outside the repo).
# Each one was checked against the release's real asset list.
OVERRIDES = {
    ("causal_conv1d", "v1.5.3"): {"no_wheels_reason": "its release workflow failed; the release has no wheel assets"},
}

# Tags the git copy of Dao-AILab/causal-conv1d (newest commit 0d2252d, 2026-03-10) does not hold. Dates are
# PyPI's upload day of the version's sdist (v1.6.2 has none: it is the day of v1.6.2.post1, as mamba v2.3.2
# and v2.3.2.post1 share theirs); v1.6.2's files carry 1.6.1, its __init__.py unbumped
# (Dao-AILab/causal-conv1d#121 finds causal_conv1d-1.6.1+cu12torch2.10cxx11abiTRUE-cp312-cp312-linux_x86_64.whl there).
# The newest workflow read predicts v1.6.2.post1's public list exactly (no ghost, only its NGC files unpredicted), and
# the v1.7.0 files seen in public projects (cu12 torch 2.6/2.7/2.8/2.10, cu13 torch 2.10, x86_64) are all in its matrix.
LATER_TAGS = {
    "causal_conv1d": [
        {"tag": "v1.6.2", "package_version": "1.6.1", "date": "2026-05-09", "sdist": None},
        {"tag": "v1.6.2.post1", "package_version": "1.6.2.post1", "date": "2026-05-09", "sdist": "causal_conv1d-1.6.2.post1.tar.gz"},
        {"tag": "v1.7.0", "package_version": "1.7.0", "date": "2026-08-20", "sdist": "causal_conv1d-1.7.0.tar.gz"},
    ],
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
        # Two selectors exist: clamp the toolkit into [min, max], or pick max for any CUDA >= 12
        # (which hands a CUDA 13 torch to a 12.x toolkit: those cells cannot compile).
        kind = "pick" if re.search(r"print\(\s*minv\s+if\b", flat) else "clamp"
        return {"kind": kind, "min": ast.literal_eval(minv.group(1)), "max": ast.literal_eval(maxv.group(1))}
    avail = re.search(r"available\s*=\s*(\{.*?\})\s*\[", flat, re.S)
    if avail:
        return {"kind": "highest_not_above", "available": ast.literal_eval(avail.group(1))}
    return None


def cuda_tag_style(text: str) -> str:
    m = re.search(r"tmpname=cu\$\{(\w+)\}", text)
    if not m:
        raise SystemExit("cannot find the wheel-name rule (tmpname=cu${...}) in the workflow")
    return {"MATRIX_CUDA_VERSION": "major_minor", "WHEEL_CUDA_VERSION": "major"}[m.group(1)]


def python_floor(setup_py: str, pyproject: str | None) -> str | None:
    """The Pythons pip accepts the sdist for (">=3.9"): pyproject.toml's ``requires-python`` where it has one (setuptools
    lets it win over setup.py, as at mamba v2.2.3.post1), else setup.py's ``python_requires``."""
    m = re.search(r"""^requires-python\s*=\s*["']([^"']+)["']""", pyproject or "", re.M)
    m = m or re.search(r"""python_requires\s*=\s*["']([^"']+)["']""", setup_py)
    return m.group(1).replace(" ", "") if m else None


def setup_py_facts(setup_py: str) -> dict:
    """What the tag's setup.py asks for when pip installs the sdist."""
    major_only = re.search(r"cuda_version\s*=\s*f\"\{torch_cuda_version\.major\}\"", setup_py)
    return {
        "cuda_tag_style": "major" if major_only else "major_minor",
        "platform": "native" if "platform.machine()" in setup_py or "uname" in setup_py else "linux_x86_64",
        "ngc_aware": "NVIDIA_PYTORCH_VERSION" in setup_py,
    }


_NIX_WHEEL = re.compile(r'name\s*=\s*"([^"]+\.whl)";\s*url\s*=\s*"([^"]+)";\s*hash\s*=\s*"sha256-([A-Za-z0-9+/=]+)";')


def sri_to_hex(b64: str) -> str:
    raw = base64.b64decode(b64)
    if len(raw) != 32:
        raise SystemExit(f"not a sha256 SRI hash: {b64}")
    return raw.hex()


def parse_nix_list(text: str) -> dict[str, list[dict]]:
    """{tag: [{name, url, sha256}]} from one binary-hashes/v*.nix file (the tag is in each URL)."""
    out: dict[str, list[dict]] = {}
    for name, url, b64 in _NIX_WHEEL.findall(text):
        m = re.search(r"/releases/download/([^/]+)/", url)
        if not m:
            raise SystemExit(f"no release tag in {url}")
        out.setdefault(m.group(1), []).append({"name": name, "url": url, "sha256": sri_to_hex(b64)})
    return out


def add_later_list(data: dict, spec: str) -> None:
    """``PATH=FILE@COMMIT``: a list file the git copy predates, read from FILE and credited to PATH at COMMIT."""
    path, _, rest = spec.partition("=")
    file, _, commit = rest.rpartition("@")
    package = next((p for p, d in LISTS_DIRS.items() if path.startswith(d + "/")), None)
    if not (package and file and re.fullmatch(r"[0-9a-f]{40}", commit)):
        raise SystemExit(f"--later-list {spec!r}: give PATH=FILE@COMMIT, PATH under {' or '.join(LISTS_DIRS.values())}, a 40-hex commit")
    tags = parse_nix_list(Path(file).read_text())
    data["source"]["later"] = [e for e in data["source"].get("later", []) if e["path"] != path]
    data["source"]["later"].append({"path": path, "commit": commit, "tags": sorted(tags, key=tag_key)})
    pkg = data["packages"].setdefault(package, {})
    pkg.update({t: sorted(v, key=lambda f: f["name"]) for t, v in tags.items()})
    data["packages"][package] = dict(sorted(pkg.items(), key=lambda kv: tag_key(kv[0])))


def keep_later_lists(data: dict, shipped: dict, gitdir: str) -> None:
    """Lists the shipped file took from commits newer than the git copy stay until the copy holds their path."""
    for entry in shipped["source"].get("later", []):
        if show(gitdir, "HEAD", entry["path"]) is not None:
            continue
        package = next(p for p, d in LISTS_DIRS.items() if entry["path"].startswith(d + "/"))
        data["source"].setdefault("later", []).append(entry)
        pkg = data["packages"][package]
        pkg.update({t: shipped["packages"][package][t] for t in entry["tags"]})
        data["packages"][package] = dict(sorted(pkg.items(), key=lambda kv: tag_key(kv[0])))


def read_asset_lists(gitdir: str) -> dict:
    commit = git(gitdir, "rev-parse", "HEAD").strip()
    data = {"source": {"repo": LISTS_REPO, "commit": commit, "paths": sorted(LISTS_DIRS.values())}, "packages": {}}
    for package, folder in LISTS_DIRS.items():
        tags: dict[str, list[dict]] = {}
        for path in git(gitdir, "ls-tree", "--name-only", f"HEAD:{folder}").split():
            if path.endswith(".nix"):
                for tag, files in parse_nix_list(git(gitdir, "show", f"HEAD:{folder}/{path}")).items():
                    tags.setdefault(tag, []).extend(files)
        data["packages"][package] = {t: sorted(v, key=lambda f: f["name"]) for t, v in sorted(tags.items(), key=lambda kv: tag_key(kv[0]))}
    return data


_GENCODE = re.compile(r"arch=compute_(\d+),code=sm_(\d+)")
_NVCC_IF = re.compile(r"^(\s*)if\s+bare_metal_version\s*(>=|<=|>|<|==)\s*Version\(\s*[\"']([\d.]+)[\"']\s*\)\s*:")


def parse_arch_rules(setup_py: str) -> list:
    """[(sm, [(op, nvcc_version)])]: each ``-gencode`` target with the nvcc conditions it sits under."""
    rules, stack = [], []  # stack: (indent, op, version)
    for line in setup_py.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        while stack and indent <= stack[-1][0]:
            stack.pop()
        m = _NVCC_IF.match(line)
        if m:
            stack.append((len(m.group(1)), m.group(2), m.group(3)))
            continue
        for _compute, sm in _GENCODE.findall(line):
            rules.append([int(sm), [[op, v] for _, op, v in stack]])
    return rules


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


def release_record(package: str, gitdir: str, tag: str, later: dict | None = None, sdists: Path | None = None) -> dict:
    """The tag's facts from its own files; a ``later`` tag (not in the git copy) from the copy's newest commit and
    the version's sdist."""
    ref = tag if later is None else git(gitdir, "rev-parse", "HEAD").strip()
    setup_text, pyproject = show(gitdir, ref, "setup.py") or "", show(gitdir, ref, "pyproject.toml")
    if later is not None and later["sdist"]:
        sdist = Path(sdists or ".") / later["sdist"]
        setup_text, pyproject = sdist_member(sdist, "setup.py"), sdist_member(sdist, "pyproject.toml")
    if later is None:
        init = show(gitdir, tag, PACKAGES[package]["init"]) or ""
        version = re.search(r"__version__\s*=\s*[\"']([^\"']+)", init).group(1)
        date = dt.date.fromisoformat(git(gitdir, "log", "-1", "--format=%cs", tag).strip())
    else:
        version, date = later["package_version"], dt.date.fromisoformat(later["date"])
    publish_text = show(gitdir, ref, ".github/workflows/publish.yaml")
    build_yml = show(gitdir, ref, ".github/workflows/_build.yml") or ""
    build_sh = show(gitdir, ref, ".github/scripts/build.sh")
    ngc_script = show(gitdir, ref, ".github/scripts/check_for_ngc_images.sh")
    setup = setup_py_facts(setup_text)
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
        "python_requires": python_floor(setup_text, pyproject),
        "matrix": axes,
        "exclude": exclude,
        "include": include,
        "torch_cuda_table": parse_torch_cuda_table(all_text),
        "ngc": None,
        "no_wheels_reason": None,
        "arch_rules": parse_arch_rules(setup_text),
    }
    if later is not None:
        record["read_at"] = ref
        record["prediction_note"] = later_note(package, ref, later)
    if ngc_script and "build_ngc_wheels" in workflow["jobs"]:
        ngc_job = workflow["jobs"]["build_ngc_wheels"]
        record["ngc"] = {"os": as_str_list(ngc_job["strategy"]["matrix"]["os"]), "months": ngc_months(date, ngc_script)}
    for runner in axes["os"]:
        retired = RUNNER_RETIRED.get(runner)
        if retired and date.isoformat() > retired:
            record["no_wheels_reason"] = f"its workflow asks for the {runner} runner, retired on {retired}, so no wheel was built"
    record.update(OVERRIDES.get((package, tag), {}))
    return record


def later_note(package: str, commit: str, later: dict) -> str:
    where = f"{PACKAGES[package]['repo']}@{commit[:7]}"
    setup = f"setup.py from PyPI's {later['sdist']}" if later["sdist"] else f"setup.py at {where}"
    return (f"{later['tag']} is newer than the sources read: its build matrix, toolkits and GPU architectures come from the "
            f"release workflow at {where} (an earlier commit) and {setup}")


def sdist_member(sdist: Path, name: str) -> str | None:
    """One top-level file of an sdist (``setup.py``), read without extracting."""
    import tarfile

    if not sdist.is_file():
        raise SystemExit(f"{sdist} is missing: pass --sdists DIR holding the PyPI sdists of {', '.join(later_sdists())}")
    with tarfile.open(sdist) as tf:
        member = next((m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/" + name)), None)
        return tf.extractfile(member).read().decode() if member else None


def later_sdists() -> list[str]:
    return [t["sdist"] for tags in LATER_TAGS.values() for t in tags if t["sdist"]]


def wheel_row(w, source: str, sha256: str | None = None, url: str | None = None) -> dict:
    row = {"file": w.filename, "source": source, "toolkit": w.cuda_toolkit,
           "archs": list(w.archs) if w.archs is not None else None}
    if sha256:
        row["sha256"] = sha256
    if url and url != w.url:
        row["url"] = url
    return row


def attach_wheels(package: str, repo: str, record: dict, listed: list[dict] | None) -> None:
    """Precompute the release's wheels: the listed files when a list exists, else the matrix expansion."""
    from mambaenv.catalog import Release, archs_bounds_for_cuda_major, archs_for_cuda_major, expand_release
    from mambaenv.wheelname import parse_wheel_filename, release_url

    rel = Release(package, repo, record["tag"], record["date"], record["package_version"], record["era"], record)
    predicted = expand_release(rel)
    record["skipped_cells"] = [[c, why] for c, why in rel.skipped_cells]
    if listed is None:
        record["source"] = "predicted"
        record["wheels"] = [wheel_row(w, "predicted") for w in predicted]
        return
    by_name = {w.filename: w for w in predicted}
    rows = []
    for f in listed:
        name = parse_wheel_filename(f["name"])
        if name is None or name.local is None or name.package != package:
            continue
        w = by_name.get(name.filename)
        if w is None:  # uploaded outside the matrix (by hand, or an NGC container build)
            toolkit, archs = None, archs_for_cuda_major(record["arch_rules"], name.local.cuda_major)
        else:
            toolkit, archs = w.cuda_toolkit, w.archs
        row = {"file": name.filename, "source": "listed", "sha256": f["sha256"], "toolkit": toolkit,
               "archs": list(archs) if archs is not None else None}
        if archs is None:  # the toolkit's minor is unknown: what every / any 12.x (say) would compile
            bounds = archs_bounds_for_cuda_major(record["arch_rules"], name.local.cuda_major)
            if bounds:
                row["archs_min"], row["archs_max"] = list(bounds[0]), list(bounds[1])
        if f["url"] != release_url(repo, record["tag"], name.filename):
            row["url"] = f["url"]
        rows.append(row)
    record["source"] = "listed"
    record["wheels"] = rows
    record["list_diff"] = {  # what the workflow reading alone would have got wrong, for maintainers
        "ghosts": sorted(set(by_name) - {r["file"] for r in rows}),
        "unpredicted": sorted({r["file"] for r in rows} - set(by_name)),
    }


def mark_shadowed(releases: list[dict]) -> None:
    """A predicted tag whose file version a listed tag also carries: resolve sends users to the listed tag."""
    from mambaenv.wheelname import parse_wheel_filename

    listed_versions = {}
    for r in releases:
        if r["source"] == "listed":
            for row in r["wheels"]:
                listed_versions.setdefault(parse_wheel_filename(row["file"]).version, r["tag"])
    for r in releases:
        if r["source"] == "predicted":
            versions = {parse_wheel_filename(row["file"]).version for row in r["wheels"]}
            hit = sorted({listed_versions[v] for v in versions if v in listed_versions})
            r["shadowed_by"] = hit[0] if hit else None


def read_lists(args, lists_path: Path) -> dict:
    """The asset lists: parsed from the git copy (keeping later ones the shipped file has) or the shipped file."""
    shipped_path = lists_path if lists_path.is_file() else LISTS_OUT
    shipped = json.loads(shipped_path.read_text())
    lists = shipped
    if args.lists:
        lists = read_asset_lists(args.lists)
        keep_later_lists(lists, shipped, args.lists)
    for spec in args.later_list:
        add_later_list(lists, spec)
    if args.lists or args.later_list:
        lists_path.write_text(json.dumps(lists, indent=1, sort_keys=True) + "\n")
        print(f"wrote {lists_path}", file=sys.stderr)
    return lists


def package_records(package: str, gitdir: str, sdists: Path | None) -> list[dict]:
    tags = sorted((t for t in git(gitdir, "tag").split() if t.startswith("v")), key=tag_key)
    records = [release_record(package, gitdir, t) for t in tags]
    records += [release_record(package, gitdir, t["tag"], t, sdists) for t in LATER_TAGS.get(package, []) if t["tag"] not in tags]
    return records


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mamba", required=True, help="git dir of state-spaces/mamba")
    ap.add_argument("--causal", required=True, help="git dir of Dao-AILab/causal-conv1d")
    ap.add_argument("--lists", help=f"git dir of {LISTS_REPO} (default: reuse the shipped {LISTS_OUT.name})")
    ap.add_argument("--later-list", action="append", default=[], metavar="PATH=FILE@COMMIT",
                    help=f"a {LISTS_REPO} list file newer than its git copy, e.g. "
                         "pkgs/causal-conv1d/binary-hashes/v1.6.2.nix=v1.6.2.nix@<commit>")
    ap.add_argument("--sdists", type=Path, help=f"folder with the PyPI sdists of the tags newer than the git copies ({', '.join(later_sdists())})")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    lists = read_lists(args, Path(args.out).with_name(LISTS_OUT.name))
    data = {"schema": 2, "lists": lists["source"], "packages": {}}
    for package, gitdir in (("mamba_ssm", args.mamba), ("causal_conv1d", args.causal)):
        repo = PACKAGES[package]["repo"]
        records = package_records(package, gitdir, args.sdists)
        pkg_lists = lists["packages"].get(package, {})
        for rec in records:
            attach_wheels(package, repo, rec, pkg_lists.get(rec["tag"]))
        mark_shadowed(records)
        data["packages"][package] = {"repo": repo, "releases": records}
    # compact: every start parses this file, and half the bytes is half the parse time
    Path(args.out).write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
