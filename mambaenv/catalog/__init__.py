"""Upstream release knowledge: every release tag of both packages and the wheels it carries.

The shipped ``data/releases.json`` is made by ``tools/regen_catalog.py`` (``make catalog``) and holds,
per release, its workflow facts and its wheel list, precomputed so a start only loads data:
``source: "listed"`` where a public copy of GitHub's asset list exists (``data/asset-lists.json``,
with sha256), ``source: "predicted"`` (the build-matrix expansion, ``expand_release``) elsewhere.
A live asset list from ``catalog refresh`` overrides both, because it is what GitHub serves now.
Each wheel carries the CUDA toolkit of the workflow cell that built it and the GPU architectures
(SASS) the tag's setup.py compiles with that toolkit.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from packaging.version import Version

from mambaenv import jsonshape
from mambaenv.config import cache_dir
from mambaenv.wheelname import LocalTag, cuda_tag, filename_from_url, format_wheel_filename, parse_wheel_filename, release_url

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
    # "listed": in a public copy of GitHub's asset list; "predicted": expanded from the workflow;
    # "live": from catalog refresh; "probed": a HEAD request found it
    source: str = "predicted"
    cuda_toolkit: str | None = None  # the nvcc of the workflow cell ("12.9.1"); None when unknown
    archs: tuple[int, ...] | None = None  # SASS targets (80 = sm_80); None when unknown
    # when only the CUDA major is known: (targets every toolkit of that major gives, targets any gives)
    archs_bounds: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["local"] = str(self.local)
        d["archs"] = list(self.archs) if self.archs is not None else None
        d.pop("archs_bounds")
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
    def source(self) -> str:
        """Where the release's file list comes from: live, listed or predicted."""
        if self.live_assets is not None:
            return "live"
        return self.record.get("source", "predicted")

    @property
    def shadowed_by(self) -> str | None:
        """A listed tag that carries the same file version: the URL must point there, not here."""
        return None if self.live_assets is not None else self.record.get("shadowed_by")

    def file_versions(self) -> set[str]:
        return {w.version for w in wheels_of(self)} or ({self.package_version} if self.source == "predicted" else set())

    @property
    def python_requires(self) -> str | None:
        """The Pythons the release's sdist accepts (">=3.9", from pyproject.toml or setup.py at the tag)."""
        return self.record.get("python_requires")

    @property
    def prediction_note(self) -> str | None:
        """For a tag newer than the sources the catalog was made from: where its build facts were read instead."""
        return self.record.get("prediction_note")

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
    if table["kind"] in ("clamp", "pick"):
        if torch_mm not in table["min"] or torch_mm not in table["max"]:
            return None, f"torch {torch_mm} is missing from the workflow's torch/CUDA table"
        if table["kind"] == "pick":
            return (table["min"] if sys_cuda < 120 else table["max"])[torch_mm], None
        return max(min(sys_cuda, table["max"][torch_mm]), table["min"][torch_mm]), None
    available = table["available"].get(torch_mm)
    if available is None:
        return None, f"torch {torch_mm} is missing from the workflow's torch/CUDA table"
    fitting = [v for v in available if v <= sys_cuda]
    if not fitting:
        return None, f"no torch {torch_mm} build has CUDA <= {toolkit}"
    return max(fitting), None


def _toolkit_key(version: str) -> tuple[int, int]:
    major, minor = (version.split(".") + ["0"])[:2]
    return int(major), int(minor)


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b}


def archs_for_toolkit(rules: list | None, toolkit: str | None) -> tuple[int, ...] | None:
    """The SASS targets a tag's setup.py compiles with this nvcc: each rule is (arch, [(op, version)])."""
    if not rules or not toolkit:
        return None
    tk = _toolkit_key(toolkit)
    return tuple(sorted({arch for arch, conds in rules if all(_OPS[op](tk, _toolkit_key(v)) for op, v in conds)}))


def archs_for_cuda_major(rules: list | None, major: int) -> tuple[int, ...] | None:
    """The targets when only the toolkit's major is known: known only if every minor gives the same list."""
    found = {archs_for_toolkit(rules, f"{major}.{minor}") for minor in range(10)}
    return found.pop() if len(found) == 1 else None


def archs_bounds_for_cuda_major(rules: list | None, major: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(targets common to every toolkit of this major, targets any of them adds), for an unknown minor."""
    found = [set(a) for a in (archs_for_toolkit(rules, f"{major}.{minor}") for minor in range(10)) if a is not None]
    if not found:
        return None
    return tuple(sorted(set.intersection(*found))), tuple(sorted(set.union(*found)))


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
        if why is None:
            why = never_built(rec, c, torch_v)
        if why:
            release.skipped_cells.append((c, why))
            continue
        local = LocalTag(cuda=cuda_tag(rec["cuda_tag_style"], c["cuda"]), torch=torch_mm, cxx11_abi=c.get("cxx11_abi", "FALSE") == "TRUE")
        machine = machine_of_runner(c["os"])
        filename = format_wheel_filename(release.package, release.package_version, local, c["python"], machine)
        out.append(WheelAsset(release.package, release.tag, release.package_version, c["python"], local, machine,
                              filename, release_url(release.repo, release.tag, filename), source="predicted",
                              cuda_toolkit=c["cuda"], archs=archs_for_toolkit(rec.get("arch_rules"), c["cuda"])))
    return out


def never_built(rec: dict, cell: dict, torch_v: Version) -> str | None:
    """Cells a workflow lists that could not build for reasons outside the matrix (checked against real lists)."""
    aarch64 = machine_of_runner(cell["os"]) == "aarch64"
    if aarch64 and cell["cuda"].startswith("11."):
        return "no aarch64 torch exists on the cu118 index"
    if aarch64 and cell["python"] == "3.13" and torch_v < Version("2.6"):
        return "no aarch64 torch < 2.6 exists for Python 3.13"
    for rule in rec.get("never_built", []):
        if all(str(cell.get(k)) == v or (k == "torch" and f"{torch_v.major}.{torch_v.minor}" == v) for k, v in rule["cell"].items()):
            return rule["why"]
    return None


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


def _asset_url(release: Release, filename: str) -> str:
    # names hold only [A-Za-z0-9_.+-]: "+" is the one character a URL path must encode
    return f"https://github.com/{release.repo}/releases/download/{release.tag}/{filename.replace('+', '%2B')}"


def _row_asset(release: Release, row: dict) -> WheelAsset:
    name = parse_wheel_filename(row["file"])
    archs = row.get("archs")
    bounds = (tuple(row["archs_min"]), tuple(row["archs_max"])) if "archs_min" in row else None
    return WheelAsset(release.package, release.tag, name.version, name.python_version, name.local,
                      name.machine or "", name.filename, row.get("url") or _asset_url(release, name.filename),
                      row.get("size"), row.get("sha256"), row.get("source", "predicted"),
                      row.get("toolkit"), tuple(archs) if archs is not None else None, bounds)


def shipped_wheels(release: Release) -> list[WheelAsset]:
    """The wheels regen_catalog.py wrote for this release (listed or predicted), as data."""
    return [_row_asset(release, row) for row in release.record["wheels"]]


def _platform_key(filename: str) -> tuple[str, str]:
    """("cp310", "x86_64") from a wheel file name, without the full parse."""
    parts = filename[:-4].rsplit("-", 3)
    return parts[-3], parts[-1].rsplit("_", 1)[-1] if not parts[-1].endswith("x86_64") else "x86_64"


def wheels_for_platform(release: Release, python: str, machine: str, any_of: tuple[str, ...] = ()) -> list[WheelAsset]:
    """The release's wheels for one Python and machine; the shipped rows are cut before they are parsed.

    ``any_of``: a further cheap cut, file-name substrings of which one must appear (a speed-up only;
    the compat rules still decide).
    """
    if release._wheels is not None or release.live_assets is not None or "wheels" not in release.record:
        return [w for w in wheels_of(release) if w.python == python and w.machine == machine
                and (not any_of or any(s in w.filename for s in any_of))]
    index = release.__dict__.setdefault("_platform_index", {})
    if not index:
        for row in release.record["wheels"]:
            index.setdefault(_platform_key(row["file"]), []).append(row)
    py = "cp" + python.replace(".", "")
    # parsed once per question: a catalog page asks each release the same one for every GPU and ABI it lists
    parsed = release.__dict__.setdefault("_platform_assets", {})
    if (py, machine, any_of) not in parsed:
        rows = index.get((py, machine), [])
        if any_of:
            rows = [r for r in rows if any(s in r["file"] for s in any_of)]
        parsed[(py, machine, any_of)] = [_row_asset(release, row) for row in rows]
    return list(parsed[(py, machine, any_of)])


def _live_with_shipped_facts(release: Release) -> list[WheelAsset]:
    """A live list says what exists; the shipped data still knows each file's toolkit and archs."""
    known = {w.filename: w for w in shipped_wheels(release)} if "wheels" in release.record else {}
    rules = release.record.get("arch_rules")
    out = []
    for w in live_wheels(release):
        k = known.get(w.filename)
        toolkit = k.cuda_toolkit if k else None
        archs = k.archs if k else archs_for_cuda_major(rules, w.local.cuda_major)
        bounds = k.archs_bounds if k else (None if archs else archs_bounds_for_cuda_major(rules, w.local.cuda_major))
        out.append(WheelAsset(w.package, w.tag, w.version, w.python, w.local, w.machine, w.filename, w.url, w.size,
                              w.sha256 or (k.sha256 if k else None), "live", toolkit, archs, bounds))
    return out


def wheels_of(release: Release) -> list[WheelAsset]:
    """The release's wheels: the live list when known, else the shipped list (computed once per release)."""
    if release._wheels is None:
        if release.live_assets is not None:
            release._wheels = _live_with_shipped_facts(release)
        elif "wheels" in release.record:
            release._wheels = shipped_wheels(release)
            release.skipped_cells = [tuple(x) for x in release.record.get("skipped_cells", [])]
        else:
            release._wheels = expand_release(release)
    return release._wheels


@lru_cache(maxsize=None)
@lru_cache(maxsize=1)
def _shipped() -> dict:
    # read once a process (never written to): a plain path, as importlib.resources costs more to import than the file to read
    return json.loads((Path(__file__).resolve().parent / "data" / "releases.json").read_text())


# live-releases.json as catalog refresh writes it: {package: {tag: [asset]}} (and "_fetched_at")
LIVE_ASSETS_SHAPE = {...: [{"name": str, "?size": (int, None), "?url": (jsonshape.http_url, None), "?digest": (str, None)}]}
LIVE_MAX_BYTES = 64 << 20


def load_live(cache_dir: Path | None) -> dict:
    """The live asset lists, or {} when there are none or the file is damaged: a cache record that does not have the
    shape refresh writes (or an asset URL that is not http(s)) is dropped, never fatal; catalog refresh writes it again."""
    if cache_dir is None:
        return {}
    path = Path(cache_dir) / LIVE_FILE
    try:
        live = jsonshape.loads(jsonshape.read_file(path, str(path), LIVE_MAX_BYTES), str(path))
    except (OSError, ValueError):
        return {}
    if not isinstance(live, dict) or any(jsonshape.problem(live.get(p, {}), LIVE_ASSETS_SHAPE) for p in _shipped()["packages"]):
        return {}
    return live


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




def known_sha256(catalog: Catalog, filename: str, tag: str | None = None) -> str | None:
    """GitHub's sha256 of an upstream file, when a listed or live asset list gives one (``tag``: where it was fetched)."""
    name = parse_wheel_filename(filename)
    if name is None or name.package not in catalog.releases:
        return None
    found = set()
    for r in catalog.for_package(name.package):
        if tag and r.tag != tag:
            continue
        if r.live_assets is not None or "wheels" not in r.record:
            found |= {w.sha256 for w in wheels_of(r) if w.filename == name.filename and w.sha256}
        else:
            found |= {row["sha256"] for row in r.record["wheels"] if row["file"] == name.filename and row.get("sha256")}
    return found.pop() if len(found) == 1 else None  # two tags with different bytes: no single answer


def repo_of(package: str) -> str:
    return _shipped()["packages"][package]["repo"]


def catalog_sha256(url_or_name: str) -> str | None:
    """The sha256 the catalog knows for an upstream file (by URL or name), so every catalog wheel is verified."""
    name = filename_from_url(url_or_name)
    parts = url_or_name.split("/releases/download/", 1)
    tag = parts[1].split("/", 1)[0] if len(parts) == 2 else None
    try:
        return known_sha256(load_catalog(cache_dir()), name, tag)
    except (OSError, ValueError):
        return None
