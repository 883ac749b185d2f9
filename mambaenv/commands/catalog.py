"""catalog refresh, list, wheels and page: what the release catalog knows, its live asset lists brought up to date, and
the planner's answer for every torch / CUDA / Python / ABI / machine / GPU as a static page."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv import __version__
from mambaenv.catalog import load_catalog, load_live, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput, ExitCode
from mambaenv.packages import DEFAULT, KNOWN, selected


@dataclass(frozen=True)
class CatalogRequest:
    package: str = "all"
    tag: str | None = None  # catalog wheels: one release tag (default: every release)
    offline: bool = False  # the shipped catalog only, not what catalog refresh saved
    api: str | None = None  # catalog refresh: the GitHub API base URL


@dataclass
class CatalogResult:
    """One list of rows under one key: releases (list, refresh) or wheels."""

    key: str
    rows: object = field(default_factory=list)

    def to_dict(self) -> dict:
        return {self.key: self.rows}


def catalog_refresh(req: CatalogRequest) -> CatalogResult:
    from mambaenv.catalog.github import refresh  # start-up: the GitHub client (requests) loads only for refresh

    return CatalogResult("releases", refresh(cache_dir(), {p: repo_of(p) for p in KNOWN}, req.api))


def _catalog(offline: bool):
    return load_catalog(None if offline else cache_dir(), offline=offline)


def catalog_list(req: CatalogRequest) -> CatalogResult:
    catalog = _catalog(req.offline)
    return CatalogResult("releases", [
        {"package": r.package, "repo": r.repo, "tag": r.tag, "package_version": r.package_version, "era": r.era, "date": r.date,
         "wheels": len(wheels_of(r)), "no_wheels_reason": r.no_wheels_reason, "source": r.source, "shadowed_by": r.shadowed_by}
        for name in selected(req.package) for r in catalog.for_package(name)])


def catalog_wheels(req: CatalogRequest) -> CatalogResult:
    """Every wheel the catalog names for a package (one tag, or all), with what is known about it."""
    catalog = _catalog(req.offline)
    rows = []
    for name in selected(req.package):
        releases = catalog.for_package(name)
        if req.tag is not None:
            found = [r for r in releases if r.tag == req.tag or r.tag == "v" + req.tag]
            if not found and req.package != "all":
                raise BadInput(f"unknown {name} tag {req.tag!r}", f"known tags include {', '.join(r.tag for r in releases[:6])}")
            releases = found
        rows += [{"package": w.package, "tag": w.tag, "version": w.version, "file": w.filename, "url": w.url, "size": w.size,
                  "sha256": w.sha256, "source": w.source, "cuda_toolkit": w.cuda_toolkit,
                  "archs": list(w.archs) if w.archs is not None else None}
                 for r in releases for w in wheels_of(r)]
    if req.tag is not None and not rows and req.package == "all":
        raise BadInput(f"no package has a tag {req.tag!r}", "mambaenv catalog list shows the known tags")
    return CatalogResult("wheels", rows)


# --- catalog page ------------------------------------------------------------------------------------

# What the page answers from: the releases and the third-party indexes anyone can fetch, never this machine's
# builds or wheelhouses; Astral's answers as their matrix predicts them (no index read per combination).
PAGE_ORIGINS = ("upstream", "astral")


@dataclass(frozen=True)
class PageRequest:
    output: str
    offline: bool = False  # the shipped catalog only, not what catalog refresh saved
    jobs: int | None = None  # processes answering; None: one per core
    quiet: bool = False  # --json: no progress line


@dataclass
class PageResult:
    folder: str
    files: dict[str, int]  # name -> bytes
    combinations: int
    distinct_answers: int
    seconds: float
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"folder": self.folder, "files": self.files, "combinations": self.combinations, "distinct_answers": self.distinct_answers,
                "seconds": round(self.seconds, 1), "index": str(Path(self.folder, "index.html").resolve().as_uri())}


def page_answers(catalog, combo) -> list[dict]:
    """One combination's plan for each package, as resolve --offline --json gives it (page.answer_of's fields)."""
    # start-up: the planner and the page's tables load only for a page
    from mambaenv import page
    from mambaenv.facts import Target
    from mambaenv.plan import PlanRequest, plan_package
    from mambaenv.target import explicit_target

    env = explicit_target(combo.python, combo.torch, combo.cuda, str(combo.cxx11abi).lower(), combo.machine, None)
    req = PlanRequest(Target(env).with_gpus((combo.gpu,) if combo.gpu else ()), offline=True, origins=PAGE_ORIGINS)
    return [page.answer_of(plan_package(req, p, catalog, []).to_dict()) for p in DEFAULT]


_WORKER_CATALOG = None  # each worker process loads the catalog once


def _load_worker_catalog(offline: bool) -> None:
    global _WORKER_CATALOG
    _WORKER_CATALOG = _catalog(offline)


def _answers_of_build(build: tuple[str, str]) -> list[list[dict]]:
    from mambaenv import page  # start-up: the page's tables load only for a page

    return [page_answers(_WORKER_CATALOG, c) for c in page.combos_of(build)]


def all_answers(offline: bool, jobs: int, progress=None):
    """Each combination's answers, in page.combos() order; one torch build per task, spread over ``jobs`` processes
    (a plan takes a few milliseconds, and there are some ten thousand combinations)."""
    from mambaenv import page  # start-up: the page's tables load only for a page

    todo = page.builds()
    if jobs <= 1:
        _load_worker_catalog(offline)
        results = map(_answers_of_build, todo)
    else:
        from concurrent.futures import ProcessPoolExecutor  # start-up: processes only for a page

        pool = ProcessPoolExecutor(jobs, initializer=_load_worker_catalog, initargs=(offline,))
        results = pool.map(_answers_of_build, todo)
    try:
        for i, answers in enumerate(results):
            if progress:
                progress(f"catalog page: {i + 1} of {len(todo)} torch builds answered")
            yield from answers
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)


def catalog_words(offline: bool) -> str:
    """Which catalog the answers come from, as the page says it."""
    from datetime import datetime, timezone  # start-up: only the page dates its catalog

    live = {} if offline else load_live(cache_dir())
    shipped = f"the catalog shipped with mambaenv {__version__}"
    if not live.get("_fetched_at"):
        return shipped
    when = datetime.fromtimestamp(live["_fetched_at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{shipped}, with GitHub's live asset lists of {when} (mambaenv catalog refresh)"


def catalog_page(req: PageRequest) -> PageResult:
    # start-up: the page's tables and the progress line load only for a page
    from mambaenv import page
    from mambaenv.render import status_line

    folder = Path(req.output)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"-o {folder} is a file", "give a folder for the page (index.html and answers.json go into it)")
    if req.jobs is not None and req.jobs < 1:
        raise BadInput(f"--jobs {req.jobs}", "give 1 or more processes")
    t0 = time.monotonic()
    about = {"generated_by": f"mambaenv {__version__}", "catalog": catalog_words(req.offline)}
    cb, ctx = status_line(req.quiet)
    with ctx:
        data = page.page_data(all_answers(req.offline, req.jobs or os.cpu_count() or 1, cb), about, DEFAULT)
    try:
        files = page.write_page(folder, data)
    except OSError as e:
        raise BadInput(f"cannot write the page into {folder} ({e.strerror})", "give a writable folder with free space") from None
    return PageResult(str(folder), files, len(data["table"]) // len(data["packages"]), len(data["answers"]), time.monotonic() - t0)
