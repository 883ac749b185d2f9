"""Which wheel goes into a target: one planner, every source asked in one order, every candidate judged by compat.

The order (an earlier source wins when two fit; a wheel that does not fit never wins over one that does):

1. ``installed``: the package is already in the target env, with its CUDA extension, and fits it (an env on this
   machine only: its probe says what is installed).
2. ``local-build``: a wheel ``mambaenv build`` made and keeps in the cache (newest first).
3. ``wheelhouse``: the lab's wheelhouses, in the order configured (flags, MAMBAENV_WHEELHOUSE, the config file);
   the newest fitting version of the first wheelhouse that has one.
4. ``conda-forge``: for a conda env whose torch is conda-forge's pytorch only, that channel's own mamba-ssm and
   causal-conv1d builds (predicted from the feedstocks' data, catalog/data/conda-forge.json; the conda solver has the
   last word). A pip wheel is built against PyPI's torch, so for such an env conda-forge's build comes first; it is
   installed with conda (``PlannedWheel.requirement`` is its match spec, ``command`` the conda line), never a file.
5. ``upstream``: the project's GitHub release, from the catalog (listed, live, or predicted from the workflow; online,
   a version the package index lists and the catalog lacks, probed with a HEAD request).
6. ``astral``: Astral's per-CUDA indexes, a third-party build (GPU-tested, manylinux-repaired) for torch releases
   upstream's workflows never built: online, the index page itself (listed, with sha256), asked only when nothing
   earlier fits; offline, predicted from their published matrix (catalog/data/astral.json). ``--no-third-party`` (or
   ``"third_party": false`` in the config file) leaves it out.

When nothing fits, the answer is the catalog's: the first fact of the env no release matches, and what to do instead
(another release, another torch, a build for this GPU). Commands only print, fetch, pack or install a plan; each says
which origins it can use (download cannot "use" an installed package).

This module decides; reading a wheelhouse or the cache happens in the source functions below, on request.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.version import InvalidVersion, Version

from mambaenv import compat
from mambaenv.catalog import WheelAsset, load_catalog
from mambaenv.errors import ExitCode, MambaenvError, WheelhouseError
from mambaenv.facts import Target
from mambaenv.packages import DEFAULT
from mambaenv.packages import get as package_record
from mambaenv.resolve import Alternative, Choice, resolve_package, unsupported_platform
from mambaenv.wheelname import local_of_version, parse_wheel_filename

ORIGINS = ("installed", "local-build", "wheelhouse", "conda-forge", "upstream", "astral")
INSTALLABLE = ORIGINS[1:]  # what install can take a package from (install --reinstall: all but what is installed)
FILE_ORIGINS = tuple(o for o in INSTALLABLE if o != "conda-forge")  # the origins that have a file to fetch, pack or install
THIRD_PARTY = ("astral",)  # builds by neither upstream nor this lab
SOURCE_KEYS = ("package", "origin", "file", "source", "wheelhouse", "wheelhouse_skipped", "wheelhouse_errors")


@dataclass(frozen=True)
class PlanRequest:
    target: Target
    packages: tuple[str, ...] = DEFAULT
    version: str | None = None  # --package-version: one package's version or tag
    wheelhouses: tuple[str, ...] = ()  # as configured (config.wheelhouses: flags, MAMBAENV_WHEELHOUSE, config file)
    offline: bool = False  # the shipped catalog only: no live asset lists, no package index
    ask_index: bool = False  # online: which versions the package index lists and the catalog lacks (Plan.freshness)
    probe_newer: bool = False  # online: such a version's file, where upstream's setup.py would look, asked with a HEAD request
    origins: tuple[str, ...] = ORIGINS
    cache: Path | None = None  # mambaenv's cache: local builds, and the live catalog unless offline; None: neither
    third_party: bool = True  # False: --no-third-party (or the config file): Astral's builds are not asked

    @classmethod
    def configured(cls, target: Target, packages: tuple[str, ...] = DEFAULT, *, wheelhouses=(), no_third_party: bool = False,
                   **kw) -> "PlanRequest":
        """A request with the sources this machine is set up with: the wheelhouses (flags, MAMBAENV_WHEELHOUSE, the config
        file), the cache (local builds, the live catalog), and whether third-party builds may answer."""
        from mambaenv import config  # start-up: the config file is read only when a command plans

        return cls(target, tuple(packages), wheelhouses=tuple(config.wheelhouses(list(wheelhouses))), cache=config.cache_dir(),
                   third_party=config.third_party_allowed(no_third_party), **kw)


@dataclass
class PlannedWheel:
    """One candidate from one source, judged against the target."""

    package: str
    origin: str  # one of ORIGINS
    source: str  # how sure: listed | live | predicted | probed | local
    version: str | None
    filename: str | None
    url: str | None  # where the bytes are: http(s)://, or file:// for a wheelhouse folder or a local build
    sha256: str | None
    verdict: compat.Verdict
    reason: str  # why it fits, or the first reason it does not
    size: int | None = None
    wheelhouse: str | None = None  # the wheelhouse that lists it, as configured
    asset: WheelAsset | None = None  # the catalog's facts about it (tag, toolkit, archs)
    index: str | None = None  # the PEP 503 index it is served from (pip/uv --index-url): a wheelhouse's, or a third party's
    requirement: str | None = None  # what pip/uv install from that index (astral: mamba-ssm==2.3.2.post1+cu.13.0.torch.2.11),
    # or conda (conda-forge: the match spec causal-conv1d=1.7.0=cuda130*_0)
    command: str | None = None  # the command a user runs for it (conda-forge: conda install ... -c conda-forge ...)

    @property
    def third_party(self) -> bool:
        return self.origin in THIRD_PARTY

    @property
    def fits(self) -> bool:
        return self.verdict.fits

    @property
    def local_path(self) -> Path | None:
        """The file on this machine, for a file:// location (a local build, a wheelhouse folder)."""
        return Path(unquote(urlsplit(self.url).path)) if self.url and self.url.startswith("file:") else None

    def to_dict(self) -> dict:
        return {"origin": self.origin, "source": self.source, "version": self.version, "file": self.filename,
                "wheelhouse": self.wheelhouse, "index": self.index, "third_party": self.third_party, "fits": self.fits, "reason": self.reason,
                "requirement": self.requirement}


@dataclass
class PackagePlan:
    """Every candidate for one package, fitting ones first in source order; the chosen one is the first."""

    package: str
    candidates: list[PlannedWheel]
    upstream: Choice  # the catalog's own answer (its reason and alternatives when nothing fits)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (origin, why) for each source that could not be read

    @property
    def chosen(self) -> PlannedWheel | None:
        return next((c for c in self.candidates if c.fits), None)

    @property
    def reason(self) -> str:
        return self.chosen.reason if self.chosen else self.upstream.reason

    @property
    def alternatives(self) -> list[Alternative]:
        return [] if self.chosen else self.upstream.alternatives

    @property
    def blocked_by(self) -> str | None:
        return None if self.chosen else self.upstream.blocked_by

    @property
    def build_is_the_way(self) -> bool:
        """Nothing prebuilt fits, and a build for this GPU is among the ways on."""
        return self.chosen is None and any(a.kind == "build" for a in self.alternatives)

    @property
    def unchecked(self) -> tuple[str, ...]:
        return self.chosen.verdict.unchecked if self.chosen else ()

    def source_record(self) -> dict:
        """Where the answer came from, as download, bundle, install and docker build report it."""
        return {k: v for k, v in self.to_dict().items() if k in SOURCE_KEYS}

    def skipped(self, origin: str | None = None) -> list[PlannedWheel]:
        return [c for c in self.candidates if not c.fits and (origin is None or c.origin == origin)]

    def to_dict(self) -> dict:
        c, w = self.chosen, (self.chosen.asset if self.chosen else None)
        release = self.upstream.release
        return {
            "package": self.package, "origin": c.origin if c else ("build" if self.build_is_the_way else None),
            "version": c.version if c else (release.package_version if release else None),
            "tag": w.tag if w else (None if c else (release.tag if release else None)),
            "file": c.filename if c else None, "url": c.url if c else None, "size": c.size if c else None,
            "sha256": c.sha256 if c else None, "source": c.source if c else None,
            "cuda_toolkit": w.cuda_toolkit if w else None, "archs": list(w.archs) if w and w.archs is not None else None,
            "reason": self.reason, "alternatives": [a.to_dict() for a in self.alternatives], "unchecked": list(self.unchecked),
            "blocked_by": self.blocked_by, "third_party": bool(c and c.third_party), "index": c.index if c else None,
            "requirement": c.requirement if c else None, "command": c.command if c else None,
            "wheelhouse": c.wheelhouse if c else None,
            "wheelhouse_skipped": [{"file": s.filename, "wheelhouse": s.wheelhouse, "reason": s.reason} for s in self.skipped("wheelhouse")],
            "wheelhouse_errors": [why for origin, why in self.errors if origin == "wheelhouse"],
            "errors": [{"origin": origin, "error": why} for origin, why in self.errors],
            "candidates": [x.to_dict() for x in self.candidates],  # every source's answer, the fitting ones first
        }


@dataclass
class Plan:
    target: Target
    packages: list[PackagePlan]
    freshness: list = field(default_factory=list)  # online: what the package index lists and the catalog not

    def missing(self) -> list[PackagePlan]:
        return [p for p in self.packages if p.chosen is None]

    def require(self) -> list[PlannedWheel]:
        """The chosen wheel of every package, or the error naming the first that has none (with its best way on)."""
        for p in self.missing():
            # a way on that only repeats the reason (a CPU-only torch) says nothing: the next one, or where to look
            ways = [a.command or a.summary for a in p.alternatives]
            fix = next((w for w in ways if w and w not in (p.reason or "")), None)
            raise MambaenvError(f"no prebuilt {p.package} wheel fits: {p.reason}",
                                fix or "mambaenv doctor, run on the target machine, shows what it can use instead", exit_code=ExitCode.NO_WORKING_PATH)
        return [p.chosen for p in self.packages]


# --- judging ---------------------------------------------------------------------------------------

def _refused(rule: str, message: str) -> compat.Verdict:
    """A verdict for what a source itself refuses (no extension, an unnamed build, another version): not a compat row."""
    return compat.Verdict((rule,), (), (message,))


def _judged(package, origin, source, facts: compat.WheelFacts, env, fits_reason: str = "", **kw) -> PlannedWheel:
    """A candidate judged by compat: its reason is the first rule it fails, else why it fits."""
    verdict = compat.evaluate(facts, env)
    return PlannedWheel(package, origin, source, verdict=verdict, reason=verdict.messages[0] if verdict.messages else fits_reason, **kw)


def _version_key(text: str | None) -> Version:
    try:
        return Version(text or "0")
    except InvalidVersion:
        return Version("0")


def _asked(version: str | None, have: str | None) -> bool:
    return version is None or _version_key(have) == _version_key(version.lstrip("v"))


# --- the sources, in the documented order ------------------------------------------------------------

def from_installed(req: PlanRequest, package: str) -> list[PlannedWheel]:
    pyenv = req.target.pyenv
    version = pyenv.package_version(package) if pyenv is not None else None
    if not version:
        return []
    module = package_record(package).extensions[0]
    label = f"{package} {version}"
    base = dict(version=version, filename=None, url=None, sha256=None)
    extension = pyenv.extension(module)
    if not extension:
        return [PlannedWheel(package, "installed", "local", verdict=_refused("extension", ""), reason=f"{label} is installed without its "
                             f"CUDA extension ({module}): a pure-Python build", **base)]
    if not _asked(req.version, version.split("+")[0]):
        return [PlannedWheel(package, "installed", "local", verdict=_refused("version", ""), reason=f"{label} is installed, "
                             f"not the asked version {req.version}", **base)]
    from mambaenv.elf import gpu_code  # start-up: the ELF reader loads only when an installed build is judged

    sass, ptx = gpu_code(Path(extension))
    facts = compat.WheelFacts.of_installed(label, local_of_version(version), sass, ptx)
    return [_judged(package, "installed", "local", facts, req.target.env, fits_reason=f"{label} is installed in this env "
                    "with its CUDA extension and fits it: nothing to fetch", **base)]


def from_local_builds(req: PlanRequest, package: str) -> list[PlannedWheel]:
    if req.cache is None or not (Path(req.cache) / "builds").is_dir():  # build_cache.builds_root, without loading it for nothing
        return []
    from mambaenv.build_cache import cached_builds  # start-up: the cache is read only when a plan asks it

    out = []
    for b in cached_builds(req.cache, package):
        path, key = Path(b["wheel"]), b.get("key") or {}
        name = parse_wheel_filename(path.name)
        if name is None or not _asked(req.version, name.version):
            continue
        archs = None if key.get("archs") in (None, "upstream") else tuple(compat.sm(a) for a in key["archs"].split(","))
        facts = compat.WheelFacts(path.name, key.get("python") or name.python_version, name.machine, name.local, archs)
        w = _judged(package, "local-build", "local", facts, req.target.env, version=name.version, filename=path.name,
                    url=path.resolve().as_uri(), sha256=b.get("sha256"), size=path.stat().st_size if path.is_file() else None,
                    fits_reason=f"a local build for this env is in the cache (mambaenv build): {path.name}")
        if w.fits and not any(x.fits for x in out):
            _check_stored_bytes(w, path)
        out.append(w)
    return out


def _check_stored_bytes(w: PlannedWheel, path: Path) -> None:
    """The build that would be chosen must still be the bytes the cache stored (hashed once, here)."""
    from mambaenv.digest import sha256_file  # start-up: hashing loads only when a local build would be taken

    try:
        same = w.sha256 is not None and sha256_file(path) == w.sha256
    except OSError:
        same = False
    if not same:
        w.verdict, w.reason = _refused("changed", ""), f"{path.name} changed in the cache since mambaenv build stored it; build it again"


def from_wheelhouses(req: PlanRequest, package: str, errors: list) -> list[PlannedWheel]:
    from mambaenv.wheelhouse import list_wheels  # start-up: html.parser and packaging.tags load only with a wheelhouse

    out = []
    for wh in req.wheelhouses:
        try:
            listed = list_wheels(wh, package)
        except WheelhouseError as e:
            errors.append(("wheelhouse", e.message))
            continue
        judged = sorted((_wheelhouse_candidate(req, package, c) for c in listed), key=lambda w: _version_key(w.version), reverse=True)
        out += sorted(judged, key=lambda w: not w.fits)  # stable: newest first among the fitting
    return out


def _wheelhouse_candidate(req: PlanRequest, package: str, c) -> PlannedWheel:
    name = parse_wheel_filename(c.filename)
    base = dict(version=name.version if name else None, filename=c.filename, url=c.url, sha256=c.sha256, wheelhouse=c.wheelhouse,
                asset=_asset(name, c.url, c.sha256) if name else None, index=c.index)
    if c.refused:  # its link leaves the page's scheme or folder: never followed
        return PlannedWheel(package, "wheelhouse", "listed", verdict=_refused("link", ""), reason=c.refused, **base)
    if name is None or name.local is None:
        return PlannedWheel(package, "wheelhouse", "listed", verdict=_refused("local-version", ""), reason=f"{c.filename} has no "
                            "+cu..torch..cxx11abi.. local version, so what it was built for is unknown", **base)
    if not _asked(req.version, name.version):
        return PlannedWheel(package, "wheelhouse", "listed", verdict=_refused("version", ""), reason=f"not the asked version {req.version}",
                            **base)
    archs = tuple(compat.sm(a) for a in c.gpu_archs) if c.gpu_archs else None
    facts = compat.WheelFacts(c.filename, name.python_version, name.machine, name.local, archs, name.manylinux_glibc)
    return _judged(package, "wheelhouse", "listed", facts, req.target.env, fits_reason=f"{c.filename} in wheelhouse {c.wheelhouse} fits "
                   "this environment (wheelhouses come before the release catalog)", **base)


def _asset(name, url: str, sha256: str | None) -> WheelAsset:
    return WheelAsset(name.package, "wheelhouse", name.version, name.python_version, name.local, name.machine or "", name.filename,
                      url, None, sha256, source="listed")


def from_conda_forge(req: PlanRequest, package: str) -> list[PlannedWheel]:
    """conda-forge's builds for the env's platform, for a conda env whose pytorch is conda-forge's (with CUDA): the fitting
    ones best first, then for each rule that turns builds away the closest such build (why none fits, briefly)."""
    env = req.target.env
    if env.torch_channel != "conda-forge" or env.torch is None or env.torch_cuda is None:
        return []
    from mambaenv.catalog import conda_forge  # start-up: conda-forge's data loads only for a conda-forge env

    platform = conda_forge.platform_of(env.system, env.machine)
    ours = [b for b in conda_forge.builds(conda_forge.load_conda_forge(), package) if b.platform == platform and _asked(req.version, b.version)]
    judged = [w for w in (_conda_forge_candidate(req, b) for b in sorted(ours, key=conda_forge.rank, reverse=True)) if w is not None]
    best: dict[str, PlannedWheel] = {}  # per version, the best build (a higher build number is a rebuild of the same code)
    misses: dict[str, PlannedWheel] = {}
    for w in (w for w in judged if w.fits):
        best.setdefault(w.version, w)
    for w in sorted((w for w in judged if not w.fits), key=lambda w: len(w.verdict.failed)):  # stable: the best build first
        misses.setdefault(w.verdict.first_failed, w)
    return list(best.values()) + list(misses.values())


def _conda_forge_candidate(req: PlanRequest, b) -> PlannedWheel | None:
    from mambaenv.catalog import conda_forge  # start-up: as from_conda_forge

    facts = b.facts()
    if facts is None:
        return None
    env = req.target.env
    command = conda_forge.install_command([b], _conda_env_flag(req.target), env.torch_conda)
    w = _judged(b.package, "conda-forge", b.source, facts, env, version=b.version, filename=None, url=None, sha256=None,
                requirement=b.spec, command=command,
                fits_reason=f"conda-forge's {b.name} {b.version} build for pytorch {b.built_against}"
                f"{' (inferred: its recipe pins none)' if b.pytorch is None else ''}, CUDA {b.cuda} fits this env, "
                f"whose pytorch is conda-forge's (predicted from the feedstock; the conda solver has the last word): {command}")
    if "cuda" not in w.verdict.failed and not conda_forge.cuda_version_allows(b, env.torch_cuda):
        v = w.verdict
        w.verdict = compat.Verdict(v.failed + ("cuda-version",), v.unchecked, v.messages + (
            f"conda-forge's build for CUDA {b.cuda} needs a cuda-version of that minor or newer, this env's pytorch is built for CUDA "
            f"{env.torch_cuda}",))
    if not w.fits:
        w.reason = f"conda-forge's {b.spec} (for pytorch {b.built_against}, CUDA {b.cuda}, Python {b.python}): {w.verdict.messages[0]}"
    return w


def _conda_env_flag(target: Target) -> str:
    """``-n NAME`` for an env under a conda install's envs/, else ``-p PREFIX``; "" without a probe (the active env)."""
    prefix = target.pyenv.raw.get("prefix") if target.pyenv is not None else None
    if not prefix:
        return ""
    import shlex  # start-up: only a conda-forge answer writes a command line

    path = Path(prefix)
    return f"-n {shlex.quote(path.name)}" if path.parent.name == "envs" else f"-p {shlex.quote(str(path))}"


def from_upstream(req: PlanRequest, package: str, catalog, freshness: list) -> tuple[list[PlannedWheel], Choice]:
    choice = resolve_package(catalog, package, req.target.env, req.version)
    if req.probe_newer and not req.offline and req.version is None:
        choice = probe_newer(choice, catalog, req.target.env, freshness)
    w = choice.wheel
    if w is None:
        return [], choice
    verdict = compat.Verdict((), choice.unchecked, ())
    return [PlannedWheel(package, "upstream", w.source, w.version, w.filename, w.url, w.sha256, verdict, choice.reason, w.size,
                         asset=w)], choice


def from_astral(req: PlanRequest, package: str, catalog, errors: list, earlier_fits: bool) -> list[PlannedWheel]:
    """Astral's wheels for this env: the index page when online and nothing earlier fits, else predicted from their matrix."""
    env = req.target.env
    if not req.third_party or env.torch is None or env.torch_cuda is None or env.system != "Linux":
        return []
    from mambaenv.catalog import astral  # start-up: Astral's data loads only when a CUDA target is planned

    data = astral.load_astral()
    rec = data["packages"].get(package)
    if rec is None or not _asked(req.version, rec["version"]):  # a pinned version Astral does not build: nothing to offer
        return []
    release = catalog.find(package, rec["version"])
    rules = release.record.get("arch_rules") if release is not None else None
    predicted = astral.candidates(astral.expand(data, package, rules, env.torch), env.python, env.machine, env.torch, env.torch_cuda)
    base = astral_index(data)
    if not req.offline and not earlier_fits:
        # the channels the matrix names for this torch (its own CUDA first); a torch newer than the matrix: its own CUDA's
        channels = list(dict.fromkeys(w.cuda for w in predicted)) or [".".join(env.torch_cuda.split(".")[:2])]
        listed = _astral_listed(req, package, channels, base, rules, data, errors)
        if listed is not None:
            return listed
    # asked only when nothing earlier fits online; offline the prediction is listed either way (then it may not be the answer)
    return [_astral_candidate(req, package, w.version, w.filename, base.format(channel=astral.channel(w.cuda)), "predicted", w.facts(),
                              earlier_fits=earlier_fits) for w in predicted]


def astral_index(data: dict) -> str:
    """The index URL template (``{channel}``: cu130): MAMBAENV_ASTRAL_INDEX (a mirror, or a test's loopback server), else theirs."""
    import os  # start-up: only Astral's source reads it

    return os.environ.get("MAMBAENV_ASTRAL_INDEX") or data["index"]


def _astral_listed(req, package, channels, base, rules, data, errors) -> list[PlannedWheel] | None:
    """The index pages of those CUDA channels: the files, with their sha256; None when no page could be read."""
    # start-up: the index reader (and requests) load only online
    from mambaenv.catalog import archs_for_toolkit, astral
    from mambaenv.wheelhouse import list_wheels

    out, read_any = [], False
    for cuda in channels:
        index = base.format(channel=astral.channel(cuda))
        try:
            listed = list_wheels(index, package_record(package).project)
        except WheelhouseError as e:
            errors.append(("astral", e.message.replace("wheelhouse", "Astral's index", 1)))
            continue
        read_any = True
        for c in listed:
            name = parse_wheel_filename(c.filename)
            if c.refused or name is None or name.local is None or name.local.scheme != "astral":
                continue
            abi = astral.cxx11_abi(data["cxx11_abi"], name.local.torch, name.local.cuda)
            local = dataclasses.replace(name.local, cxx11_abi=abi)
            facts = compat.WheelFacts(c.filename, name.python_version, name.machine, local,
                                      archs_for_toolkit(rules, name.local.cuda) if rules else None, name.manylinux_glibc)
            out.append(_astral_candidate(req, package, f"{name.version}+{name.local_text}", c.filename, index, "listed", facts,
                                         url=c.url, sha256=c.sha256))
    if not read_any:
        return None
    fitting = sorted((w for w in out if w.fits), key=lambda w: _version_key(w.version), reverse=True)
    return fitting + [w for w in out if not w.fits]


def _astral_candidate(req, package: str, version: str, filename: str, index: str, source: str, facts: compat.WheelFacts,
                      url: str | None = None, sha256: str | None = None, earlier_fits: bool = False) -> PlannedWheel:
    """One of Astral's wheels; predicted ones point at the project's page (their file URLs are known only from it)."""
    project = package_record(package).project
    where = "listed on" if source == "listed" else "predicted from the build matrix of"
    after = "" if earlier_fits else ": no upstream release fits"
    return _judged(package, "astral", source, facts, req.target.env, version=version, filename=filename,
                   url=url or f"{index.rstrip('/')}/{project}/", sha256=sha256, index=index, requirement=f"{project}=={version}",
                   fits_reason=f"{filename} is a third-party build (Astral's index {index}, {where} it){after}")


def probe_newer(choice: Choice, catalog, env, freshness: list) -> Choice:
    """Offer a version the index has and the catalog lacks, when the file setup.py would ask for exists."""
    from mambaenv.catalog.index import guessed_wheel, probe  # start-up: the index client (requests) loads only online
    from mambaenv.config import mirrors as configured_mirrors

    fresh = next((f for f in freshness if f.package == choice.package and f.newer), None)
    if fresh is None or unsupported_platform(env):
        return choice
    for version in reversed(fresh.newer):
        if choice.wheel and Version(choice.wheel.version) >= Version(version):
            break
        guess = guessed_wheel(catalog, choice.package, version, env)
        if not compat.evaluate(compat.WheelFacts.of_asset(guess), env).fits:
            continue
        if probe(guess.url, configured_mirrors(None)):
            reason = (f"{guess.tag} is newer than the catalog; its file {guess.filename} exists (found by a HEAD request, "
                      "no sha256 known); run mambaenv catalog refresh to list it")
            return Choice(choice.package, guess, reason, None, [], ("gpu-arch",) if env.gpu_caps else ())
    return choice


def catalog_freshness(catalog, packages) -> list:
    """One index lookup per package, in parallel: which released versions the catalog does not know."""
    # start-up: the thread pool and the index client (requests) load only online
    from concurrent.futures import ThreadPoolExecutor

    from mambaenv.catalog.index import check_freshness

    with ThreadPoolExecutor(max_workers=len(packages) or 1) as pool:
        return list(pool.map(lambda p: check_freshness(catalog, p), packages))


# --- the planner -------------------------------------------------------------------------------------

def plan(req: PlanRequest) -> Plan:
    if req.version and len(req.packages) != 1:
        from mambaenv.errors import BadInput  # start-up: only this misuse needs it

        raise BadInput("--package-version needs one --package", "add --package mamba_ssm or --package causal_conv1d")
    catalog = load_catalog(None if req.offline else req.cache, offline=req.offline)
    freshness = catalog_freshness(catalog, list(req.packages)) if req.ask_index and not req.offline else []
    return Plan(req.target, [plan_package(req, p, catalog, freshness) for p in req.packages], freshness)


def plan_package(req: PlanRequest, package: str, catalog, freshness: list) -> PackagePlan:
    package_record(package)
    errors: list[tuple[str, str]] = []
    found: list[PlannedWheel] = []
    if "installed" in req.origins:
        found += from_installed(req, package)
    if "local-build" in req.origins:
        found += from_local_builds(req, package)
    if "wheelhouse" in req.origins and req.wheelhouses:
        found += from_wheelhouses(req, package, errors)
    if "conda-forge" in req.origins:
        found += from_conda_forge(req, package)
    upstream, choice = from_upstream(req, package, catalog, freshness)
    if "upstream" in req.origins:
        found += upstream
    if "astral" in req.origins:
        found += from_astral(req, package, catalog, errors, any(c.fits for c in found))
    # stable: the source order is kept among the fitting and among the rest
    ordered = [c for c in found if c.fits] + [c for c in found if not c.fits]
    return PackagePlan(package, ordered, choice, errors)
