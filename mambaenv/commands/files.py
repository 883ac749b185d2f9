"""download and bundle: the planned (or given) wheels onto disk, verified; a bundle file for a server without network."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.download import fetch_to
from mambaenv.errors import DownloadError, ExitCode
from mambaenv.packages import DEFAULT, selected
from mambaenv.plan import FILE_ORIGINS, Plan, PlanRequest, plan
from mambaenv.target import Target, TargetArgs, target_from_doctor_file


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
    no_third_party: bool = False


@dataclass
class DownloadResult:
    files: list[dict] = field(default_factory=list)  # url, file, sha256, size, from_cache, served_by, origin, source, wheelhouse
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"files": self.files}


def file_plan(target: Target, packages: tuple[str, ...], wheelhouses, offline: bool, no_third_party: bool) -> Plan:
    """The plan of a command that needs files (download, bundle): every origin but what is installed in an env."""
    return plan(PlanRequest.configured(target, packages, wheelhouses=wheelhouses, no_third_party=no_third_party, offline=offline,
                                       origins=FILE_ORIGINS))


def download_cmd(req: DownloadRequest) -> DownloadResult:
    """--url as given, or the planned wheels for the target, each placed in ``dest``."""
    if req.url:  # without --sha256, fetch_to checks the release's published one
        jobs = [(req.url, req.sha256, None, {"origin": "url", "source": None, "wheelhouse": None})]
    else:
        chosen = file_plan(req.facts.resolve(), selected(req.package), req.wheelhouses, req.offline_catalog, req.no_third_party).require()
        jobs = [(w.url, w.sha256, w.size, {"origin": w.origin, "source": w.source, "wheelhouse": w.wheelhouse}) for w in chosen]
    results = []
    for url, sha, size, where in jobs:
        got, placed = fetch_to(url, req.dest, sha256=sha, size=size, mirrors=req.mirrors, segments=req.segments,
                               show_progress=req.show_progress, local_wheelhouse=not req.url)
        results.append({"url": url, "file": str(placed), "sha256": got.sha256, "size": got.size, "from_cache": got.from_cache,
                        "served_by": got.url, **where})
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
    no_third_party: bool = False


@dataclass
class BundleResult:
    made: dict  # bundle, env, files, bytes, packages, next (from bundle.make_bundle)
    sources: list[dict] = field(default_factory=list)
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return dict(self.made, sources=self.sources)


def bundle_target(req: BundleRequest) -> tuple[Target, str | None]:
    """A doctor --json file's facts, explicit facts, or an env probed here; and the server's interpreter when known."""
    if req.from_doctor:
        return target_from_doctor_file(req.from_doctor)
    if not req.facts.explicit and not (req.facts.env or req.facts.python):
        from mambaenv.errors import BadInput  # start-up: only this misuse needs it

        raise BadInput("bundle needs the target env", "give --python, --torch, --torch-cuda, --cxx11abi, or --from doctor.json")
    target = req.facts.resolve()
    return target, target.python


def bundle_cmd(req: BundleRequest) -> BundleResult:
    """bundle for a doctor --json file, explicit facts, or (``--python PATH`` / ``--env``) an env probed here: the
    planned wheels (local builds, wheelhouses, then upstream) or the given ones, and their dependencies."""
    from mambaenv import bundle as bundle_mod  # start-up: download does not load the bundle writer (and install's checks)

    target, server_python = bundle_target(req)
    sources: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mambaenv-bwh-") as tmp:
            wheels = [Path(w) for w in req.wheels]
            if not wheels:
                p = file_plan(target, DEFAULT, req.wheelhouses, req.offline_catalog, req.no_third_party)
                wheels = [fetch_to(w.url, tmp, sha256=w.sha256, size=w.size, mirrors=req.mirrors, show_progress=req.show_progress)[1]
                          for w in p.require()]
                sources = [pp.source_record() for pp in p.packages]
            made = bundle_mod.make_bundle(req.output, env=target.env, wheels=wheels, index_url=req.index_url,
                                          find_links=req.find_links, server_python=server_python)
            return BundleResult(made, sources)
    except DownloadError as e:
        # The downloader's own advice ends in install --offline-wheel, which is the server's step, not this one.
        e.fix = "check the network or proxy (HTTPS_PROXY), add a mirror with --mirror, or fetch the URL in a browser and give it with --wheel FILE"
        raise
