"""catalog refresh, list and wheels: what the release catalog knows, and its live asset lists brought up to date."""
from __future__ import annotations

from dataclasses import dataclass, field

from mambaenv.catalog import load_catalog, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput
from mambaenv.packages import KNOWN, selected


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
