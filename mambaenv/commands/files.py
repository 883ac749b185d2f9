"""download and bundle: the resolved (or given) wheels onto disk, verified; a bundle file for a server without network."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.catalog import load_catalog
from mambaenv.commands.wheels import SOURCE_KEYS, from_wheelhouses, resolved_wheels
from mambaenv.config import cache_dir
from mambaenv.config import wheelhouses as configured_wheelhouses
from mambaenv.download import fetch_to
from mambaenv.errors import DownloadError, ExitCode
from mambaenv.facts import is_python_version
from mambaenv.resolve import resolve_all
from mambaenv.target import TargetArgs


@dataclass(frozen=True)
class DownloadRequest:
    package: str = "all"
    url: str | None = None
    sha256: str | None = None
    dest: str = "."
    mirrors: tuple[str, ...] = ()
    segments: int | None = None
    facts: TargetArgs = TargetArgs()
    offline_catalog: bool = False
    show_progress: bool = True
    wheelhouses: tuple[str, ...] = ()


@dataclass
class DownloadResult:
    files: list[dict] = field(default_factory=list)  # url, file, sha256, size, from_cache, served_by, source, wheelhouse
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"files": self.files}


def download_cmd(req: DownloadRequest) -> DownloadResult:
    """--url as given, or the wheels resolved for the target (wheelhouses first, then the catalog), each placed in ``dest``."""
    if req.url:
        jobs = [(req.url, req.sha256, None, None)]  # without --sha256, fetch_to checks the release's published one
    else:
        choices = resolved_wheels(req.package, req.facts, req.offline_catalog, list(req.wheelhouses))
        jobs = [(c.wheel.url, c.wheel.sha256, c.wheel.size, getattr(c, "wheelhouse", None)) for c in choices]
    results = []
    for u, sha, size, house in jobs:
        got, placed = fetch_to(u, req.dest, sha, size, list(req.mirrors), req.segments, req.show_progress, local_wheelhouse=not req.url)
        results.append({"url": u, "file": str(placed), "sha256": got.sha256, "size": got.size, "from_cache": got.from_cache,
                        "served_by": got.url, "source": "wheelhouse" if house else ("url" if req.url else "catalog"), "wheelhouse": house})
    return DownloadResult(results)


@dataclass(frozen=True)
class BundleRequest:
    output: str
    facts: TargetArgs = TargetArgs()
    from_doctor: str | None = None  # a doctor --json file from the target server
    wheels: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    offline_catalog: bool = False
    show_progress: bool = True
    wheelhouses: tuple[str, ...] = ()


@dataclass
class BundleResult:
    made: dict  # bundle, env, files, bytes, packages (from bundle.make_bundle)
    sources: list[dict] = field(default_factory=list)
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return dict(self.made, sources=self.sources)


def bundle_cmd(req: BundleRequest) -> BundleResult:
    """bundle for explicit facts, a doctor --json file, or (``--python PATH`` / ``--env``) an env probed here;
    wheelhouses are asked first: their fitting wheels (the catalog's for the rest) go in as local wheels."""
    from mambaenv import bundle as bundle_mod  # start-up: download does not load the bundle writer (and install's checks)

    f = req.facts
    python, torch, torch_cuda, cxx11abi, machine, ngc = f.python, f.torch, f.torch_cuda, f.cxx11abi, f.machine, f.ngc
    if not req.from_doctor and torch is None and (f.env or (python and not is_python_version(python))):
        t = TargetArgs(python, f.env, None, None, None, machine, None).target()
        python, torch, machine, ngc = t.python, t.torch, t.machine, t.ngc_version
        torch_cuda, cxx11abi = t.torch_cuda or "none", None if t.cxx11_abi is None else str(t.cxx11_abi)
    wheels, mirrors = list(req.wheels), list(req.mirrors)
    try:
        with tempfile.TemporaryDirectory(prefix="mambaenv-bwh-") as tmp:
            sources = []
            if not wheels and configured_wheelhouses(list(req.wheelhouses)):
                target = bundle_mod._target(python, torch, torch_cuda, cxx11abi, machine, ngc, req.from_doctor)
                catalog = load_catalog(None if req.offline_catalog else cache_dir(), offline=req.offline_catalog)
                choices = from_wheelhouses(resolve_all(catalog, target), target, list(req.wheelhouses))
                if any(c.wheelhouse for c in choices) and all(c.wheel for c in choices):
                    wheels = [str(fetch_to(c.wheel.url, Path(tmp), c.wheel.sha256, c.wheel.size, mirrors, None, req.show_progress)[1])
                              for c in choices]
                sources = [{k: c.to_dict().get(k) for k in SOURCE_KEYS} for c in choices]
            made = bundle_mod.make_bundle(req.output, python, torch, torch_cuda, cxx11abi, machine, ngc, req.from_doctor, wheels, mirrors,
                                          req.index_url, list(req.find_links), req.offline_catalog, show_progress=req.show_progress)
            return BundleResult(made, sources)
    except DownloadError as e:
        # The downloader's own advice ends in install --offline-wheel, which is the server's step, not this one.
        e.fix = "check the network or proxy (HTTPS_PROXY), add a mirror with --mirror, or fetch the URL in a browser and give it with --wheel FILE"
        raise
