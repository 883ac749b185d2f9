"""Upstream release knowledge: every release tag of both packages and the wheels it carries.

The shipped ``data/releases.json`` (made by ``tools/regen_catalog.py`` from each tag's own setup.py
and workflow) holds one build matrix per release. ``expand_release`` turns a matrix into the wheel
files it could have produced; a live asset list from ``catalog refresh`` replaces that expansion
wherever it exists, because the live list is what GitHub actually serves.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from packaging.version import Version

from mambaenv.wheelname import LocalTag, format_wheel_filename, parse_wheel_filename, release_url

LIVE_FILE = "live-releases.json"


@dataclass(frozen=True)
class WheelAsset:
    package: str
    tag: str
    version: str
    python: str  # "3.10"
    local: LocalTag
    machine: str
    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    source: str = "matrix"  # "matrix": expanded from the workflow; "live": seen in GitHub's asset list

    def to_dict(self) -> dict:
        d = asdict(self)
        d["local"] = str(self.local)
        return d


@dataclass
class Release:
    package: str
    repo: str
    tag: str
    date: str
    package_version: str
    era: str
    record: dict
    live_assets: list[dict] | None = None
    skipped_cells: list[tuple[dict, str]] = field(default_factory=list)
    _wheels: list[WheelAsset] | None = field(default=None, repr=False)

    @property
    def key(self) -> Version:
        return Version(self.tag.lstrip("v"))

    @property
    def no_wheels_reason(self) -> str | None:
        if self.live_assets is not None:
            return None if any(a["name"].endswith(".whl") for a in self.live_assets) else "its release has no wheel assets"
        return self.record.get("no_wheels_reason")

    @property
    def ngc_months(self) -> list[str]:
        ngc = self.record.get("ngc") or {}
        return list(ngc.get("months", []))

    @property
    def ngc_machines(self) -> list[str]:
        ngc = self.record.get("ngc") or {}
        return [machine_of_runner(o) for o in ngc.get("os", [])]


def machine_of_runner(runner: str) -> str:
    return "aarch64" if "arm" in runner else "x86_64"


def _cell_excluded(cell: dict, excludes: list[dict]) -> bool:
    return any(all(cell.get(k) == v for k, v in ex.items()) for ex in excludes)


def _cuda_digits(version: str) -> int:
    major, minor = version.split(".")[:2]
    return int(f"{major}{minor}")


def torch_cuda_for_cell(table: dict | None, torch_mm: str, toolkit: str) -> tuple[int | None, str | None]:
    """Which torch CUDA build the workflow installs for a cell, or why the cell could not build."""
    if table is None:
        return _cuda_digits(toolkit), None
    sys_cuda = _cuda_digits(toolkit)
    if table["kind"] == "clamp":
        if torch_mm not in table["min"] or torch_mm not in table["max"]:
            return None, f"torch {torch_mm} is missing from the workflow's torch/CUDA table"
        return max(min(sys_cuda, table["max"][torch_mm]), table["min"][torch_mm]), None
    available = table["available"].get(torch_mm)
    if available is None:
        return None, f"torch {torch_mm} is missing from the workflow's torch/CUDA table"
    fitting = [v for v in available if v <= sys_cuda]
    if not fitting:
        return None, f"no torch {torch_mm} build has CUDA <= {toolkit}"
    return max(fitting), None


def cuda_tag(style: str, toolkit: str) -> str:
    major, minor = toolkit.split(".")[:2]
    return major if style == "major" else f"{major}{minor}"


def expand_release(release: Release) -> list[WheelAsset]:
    """Every wheel the release's workflow could have produced, in matrix order."""
    rec = release.record
    if rec.get("no_wheels_reason"):
        return []
    m = rec["matrix"]
    cells = [
        dict(zip(("os", "python", "torch", "cuda", "cxx11_abi"), c))
        for c in itertools.product(m["os"], m["python"], m["torch"], m["cuda"], m["cxx11_abi"])
    ]
    cells = [c for c in cells if not _cell_excluded(c, rec.get("exclude", []))]
    cells += [c for c in rec.get("include", []) if {"os", "python", "torch", "cuda"} <= c.keys()]
    out, release.skipped_cells = [], []
    for c in cells:
        torch_v = Version(c["torch"])
        torch_mm = f"{torch_v.major}.{torch_v.minor}"
        torch_cuda, why = torch_cuda_for_cell(rec.get("torch_cuda_table"), torch_mm, c["cuda"])
        if why is None and torch_cuda // 10 != int(c["cuda"].split(".")[0]):
            why = f"the workflow pairs CUDA {c['cuda']} with a torch built for CUDA {torch_cuda // 10}.x, which cannot compile"
        if why:
            release.skipped_cells.append((c, why))
            continue
        local = LocalTag(cuda=cuda_tag(rec["cuda_tag_style"], c["cuda"]), torch=torch_mm, cxx11_abi=c.get("cxx11_abi", "FALSE") == "TRUE")
        machine = machine_of_runner(c["os"])
        filename = format_wheel_filename(release.package, release.package_version, local, c["python"], machine)
        out.append(WheelAsset(release.package, release.tag, release.package_version, c["python"], local, machine,
                              filename, release_url(release.repo, release.tag, filename)))
    return out


def live_wheels(release: Release) -> list[WheelAsset]:
    out = []
    for a in release.live_assets or []:
        name = parse_wheel_filename(a["name"])
        if not name or not name.local or name.package != release.package:
            continue
        digest = a.get("digest") or ""
        out.append(WheelAsset(release.package, release.tag, name.version, name.python_version, name.local,
                              name.machine or "", name.filename,
                              a.get("url") or release_url(release.repo, release.tag, name.filename),
                              a.get("size"), digest.split(":", 1)[1] if digest.startswith("sha256:") else None, "live"))
    return out


def wheels_of(release: Release) -> list[WheelAsset]:
    """The release's wheels: the live list when known, else the matrix expansion (computed once per release)."""
    if release._wheels is None:
        release._wheels = live_wheels(release) if release.live_assets is not None else expand_release(release)
    return release._wheels


@lru_cache(maxsize=None)
def _shipped() -> dict:
    return json.loads(resources.files("mambaenv.catalog").joinpath("data/releases.json").read_text())


def load_live(cache_dir: Path | None) -> dict:
    if cache_dir is None:
        return {}
    path = Path(cache_dir) / LIVE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class Catalog:
    def __init__(self, releases: dict[str, list[Release]]):
        self.releases = releases  # newest first

    def for_package(self, package: str) -> list[Release]:
        return self.releases[package]

    def find(self, package: str, version: str) -> Release | None:
        """A release by tag (``v2.2.2``) or by version (``2.2.2``)."""
        wanted = version.lstrip("v")
        for r in self.releases[package]:
            if r.tag.lstrip("v") == wanted:
                return r
        for r in self.releases[package]:
            if r.package_version == wanted:
                return r
        return None


def load_catalog(cache_dir: Path | None = None, offline: bool = False) -> Catalog:
    """The shipped catalog, with live asset lists laid over it unless ``offline``."""
    data = _shipped()
    live = {} if offline else load_live(cache_dir)
    releases: dict[str, list[Release]] = {}
    for package, pdata in data["packages"].items():
        lst = []
        for rec in pdata["releases"]:
            assets = live.get(package, {}).get(rec["tag"])
            lst.append(Release(package, pdata["repo"], rec["tag"], rec["date"], rec["package_version"], rec["era"], rec, assets))
        known = {r.tag for r in lst}
        for tag, assets in live.get(package, {}).items():
            if tag not in known:  # a release newer than the shipped catalog
                lst.append(Release(package, pdata["repo"], tag, "", _version_from_assets(package, tag, assets), "live", {}, assets))
        lst.sort(key=lambda r: r.key, reverse=True)
        releases[package] = lst
    return Catalog(releases)


def _version_from_assets(package: str, tag: str, assets: list[dict]) -> str:
    for a in assets:
        n = parse_wheel_filename(a["name"])
        if n and n.package == package:
            return n.version
    return tag.lstrip("v")




def repo_of(package: str) -> str:
    return _shipped()["packages"][package]["repo"]
