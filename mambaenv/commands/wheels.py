"""resolve and catalog: which upstream wheel fits a target env, wheelhouses asked first; what the catalog lists."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from packaging.version import Version

from mambaenv import compat
from mambaenv.catalog import load_catalog, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.config import mirrors as configured_mirrors
from mambaenv.config import wheelhouses as configured_wheelhouses
from mambaenv.errors import BadInput, ExitCode, MambaenvError
from mambaenv.resolve import Choice, resolve_all, unsupported_platform
from mambaenv.target import TargetArgs
from mambaenv.upstream import PACKAGES
from mambaenv.wheelhouse import prefer_wheelhouses

SOURCE_KEYS = ("package", "file", "source", "wheelhouse", "wheelhouse_skipped", "wheelhouse_errors")  # "where it came from" in answers


@dataclass(frozen=True)
class ResolveRequest:
    package: str = "all"
    package_version: str | None = None
    facts: TargetArgs = TargetArgs()
    offline: bool = False
    wheelhouses: tuple[str, ...] = ()
    gpu_arch: str | None = None  # native, or a list like 12.0,8.6; None: unchecked
    ask_index: bool = False  # online: also ask the package index which versions the catalog lacks (resolve's own answer)


@dataclass
class ResolveResult:
    choices: list
    freshness: list = field(default_factory=list)  # online only: what the package index knows and the catalog not

    def to_dict(self) -> dict:
        return {"packages": [c.to_dict() for c in self.choices], "catalog": [f.to_dict() for f in self.freshness]}

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if all(c.wheel for c in self.choices) else ExitCode.NO_WORKING_PATH


def check_package(package: str) -> None:
    if package != "all" and package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")


def gpu_caps_from(text: str | None) -> tuple[str, ...]:
    """``--gpu-arch``: ``native`` (the GPUs here), or a list like ``12.0,8.6`` / ``sm_120``; empty: unchecked."""
    if not text:
        return ()
    if text == "native":
        return native_gpu_caps()
    caps = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            n = compat.sm(part)
        except ValueError:
            raise BadInput(f"malformed GPU architecture {part!r}", "give compute capabilities like 12.0,8.6 or sm_120, or native") from None
        caps.append(f"{n // 10}.{n % 10}")
    return tuple(caps)


def native_gpu_caps() -> tuple[str, ...]:
    """The compute capabilities of the GPUs here, sorted; () when NVML finds none."""
    from mambaenv.detect.host import detect_nvidia  # start-up: NVML loads only when this machine's GPUs matter

    return tuple(sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability}))


def resolve(req: ResolveRequest) -> ResolveResult:
    check_package(req.package)
    target = req.facts.target()
    caps = gpu_caps_from(req.gpu_arch)
    if caps:
        target = dataclasses.replace(target, gpu_caps=caps)
    catalog = load_catalog(None if req.offline else cache_dir(), offline=req.offline)
    choices = resolve_all(catalog, target, req.package, req.package_version)
    freshness = []
    if req.ask_index and not req.offline:
        freshness = catalog_freshness(catalog, [c.package for c in choices])
        if req.package_version is None:
            choices = [probe_newer(c, catalog, target, freshness) for c in choices]
    # a probed env is on this machine: its GPUs are the ones a wheelhouse wheel's kernels must run on
    here = list(caps) if caps else (True if req.facts.torch is None else None)
    return ResolveResult(from_wheelhouses(choices, target, list(req.wheelhouses), req.package_version, here), freshness)


def from_wheelhouses(choices, target, wheelhouses=None, package_version=None, gpu_caps=None):
    """Wheelhouses (flags, MAMBAENV_WHEELHOUSE, config) first: a fitting wheel there replaces the catalog's answer.

    ``gpu_caps``: compute capabilities the wheel's kernels must run on; True: this machine's GPUs; None: not checked.
    """
    houses = configured_wheelhouses(wheelhouses)
    if gpu_caps is True:
        gpu_caps = (list(native_gpu_caps()) or None) if houses else None
    return prefer_wheelhouses(choices, target, houses, package_version, gpu_caps)


def catalog_freshness(catalog, packages: list[str]) -> list:
    """One index lookup per package, in parallel: which released versions the catalog does not know."""
    # start-up: the thread pool and the index client (requests) load only online
    from concurrent.futures import ThreadPoolExecutor

    from mambaenv.catalog.index import check_freshness

    with ThreadPoolExecutor(max_workers=len(packages) or 1) as pool:
        return list(pool.map(lambda p: check_freshness(catalog, p), packages))


def probe_newer(choice, catalog, target, freshness: list):
    """Offer a version the index has and the catalog lacks, when the file setup.py would ask for exists."""
    from mambaenv.catalog.index import guessed_wheel, probe  # start-up: the index client (requests) loads only online

    fresh = next((f for f in freshness if f.package == choice.package and f.newer), None)
    if fresh is None or unsupported_platform(target):
        return choice
    for version in reversed(fresh.newer):
        if choice.wheel and Version(choice.wheel.version) >= Version(version):
            break
        guess = guessed_wheel(catalog, choice.package, version, target)
        if not compat.evaluate(compat.WheelFacts.of_asset(guess), target).fits:
            continue
        if probe(guess.url, configured_mirrors(None)):
            reason = (f"{guess.tag} is newer than the catalog; its file {guess.filename} exists (found by a HEAD request, "
                      "no sha256 known); run mambaenv catalog refresh to list it")
            return Choice(choice.package, guess, reason, None, [], ("gpu-arch",) if target.gpu_caps else ())
    return choice


def resolved_wheels(package: str, facts: TargetArgs, offline: bool, wheelhouses=None) -> list:
    """Every package's fitting wheel, or the error naming the first that has none (with its best alternative)."""
    # a probed env's wheels go onto this machine: check them against its GPUs (none found: unchecked)
    choices = resolve(ResolveRequest(package, None, facts, offline, tuple(wheelhouses or ()),
                                     gpu_arch="native" if facts.torch is None else None)).choices
    missing = [c for c in choices if not c.wheel]
    if missing:
        c = missing[0]
        alt = c.alternatives[0] if c.alternatives else None
        raise MambaenvError(f"no prebuilt {c.package} wheel fits: {c.reason}", (alt.command or alt.summary) if alt else None,
                            exit_code=ExitCode.NO_WORKING_PATH)
    return choices


# --- catalog -------------------------------------------------------------------------------------

def catalog_refresh(api: str | None) -> dict:
    from mambaenv.catalog.github import refresh  # start-up: the GitHub client (requests) loads only for refresh

    return refresh(cache_dir(), {p: repo_of(p) for p in PACKAGES}, api)


def catalog_list(package: str, offline: bool) -> list[dict]:
    check_package(package)
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return [{"package": r.package, "repo": r.repo, "tag": r.tag, "package_version": r.package_version, "era": r.era, "date": r.date,
             "wheels": len(wheels_of(r)), "no_wheels_reason": r.no_wheels_reason, "source": r.source, "shadowed_by": r.shadowed_by}
            for name in (PACKAGES if package == "all" else (package,)) for r in catalog.for_package(name)]


def catalog_wheels(package: str, tag: str | None, offline: bool) -> list[dict]:
    """Every wheel the catalog names for a package (one tag, or all), with what is known about it."""
    if package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)}")
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    releases = catalog.for_package(package)
    if tag is not None:
        found = [r for r in releases if r.tag == tag or r.tag == "v" + tag]
        if not found:
            raise BadInput(f"unknown {package} tag {tag!r}", f"known tags include {', '.join(r.tag for r in releases[:6])}")
        releases = found
    return [{"package": w.package, "tag": w.tag, "version": w.version, "file": w.filename, "url": w.url, "size": w.size,
             "sha256": w.sha256, "source": w.source, "cuda_toolkit": w.cuda_toolkit,
             "archs": list(w.archs) if w.archs is not None else None}
            for r in releases for w in wheels_of(r)]
