"""Is the catalog behind? The package index's simple page (PEP 503/691) lists every released version.

PyPI and its mirrors carry the sdists of every release, so a version the index lists and the catalog
lacks is a release whose GitHub wheels the shipped data cannot describe yet. Online, the URL
upstream's own setup.py would ask for such a version can be probed with a HEAD request.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import requests
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mambaenv import jsonshape
from mambaenv.catalog import Catalog, WheelAsset, archs_bounds_for_cuda_major
from mambaenv.errors import PageUnread
from mambaenv.fetch import mirror_urls
from mambaenv.httpget import read_page, within
from mambaenv.wheelname import LocalTag, cuda_tag, format_wheel_filename, release_url

DEFAULT_INDEX = "https://pypi.org/simple"
_ANCHOR = re.compile(r"<a\s[^>]*>([^<]+)</a>", re.I)


def index_url() -> str:
    """The index pip would use: MAMBAENV_INDEX_URL, else PIP_INDEX_URL, else PyPI."""
    return os.environ.get("MAMBAENV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX


def versions_from_filenames(package: str, names: list[str]) -> set[str]:
    """Versions named by sdists and wheels of ``package`` on a simple page."""
    want = canonicalize_name(package)
    out = set()
    for n in names:
        base = n.rsplit("/", 1)[-1]
        m = re.match(r"^(.+?)-(\d[^-]*?)(?:\.tar\.gz|\.zip|-.+\.whl)$", base)
        if m and canonicalize_name(m.group(1)) == want:
            try:
                out.add(str(Version(m.group(2))))
            except InvalidVersion:
                continue
    return out


INDEX_DEADLINE_S = 3.0  # the whole answer: the index only adds information, so it may never cost a command more
MAX_INDEX_BYTES = 8 << 20  # PyPI's mamba-ssm page is a few kB; torch's, the biggest a user may point at, under 2 MiB
INDEX_JSON_SHAPE = {"files": [{"filename": str}]}  # PEP 691, the one field read here


def index_versions(package: str, url: str | None = None, session: requests.Session | None = None,
                   timeout: float = INDEX_DEADLINE_S) -> set[str]:
    """Every version the index lists for ``package`` (PEP 691 JSON when offered, else PEP 503 HTML); PageUnread or
    ValueError when the whole answer did not come within ``timeout`` seconds, bounded in size, in the expected shape."""
    page = f"{(url or index_url()).rstrip('/')}/{canonicalize_name(package)}/"
    r = read_page(page, timeout, MAX_INDEX_BYTES, {"Accept": "application/vnd.pypi.simple.v1+json;q=0.9, text/html;q=0.5"}, session)
    if r.status != 200:
        raise PageUnread(f"{page} answered HTTP {r.status}")
    if "json" in r.content_type:
        data = jsonshape.checked(jsonshape.loads(r.body, page), INDEX_JSON_SHAPE, page)
        names = [f["filename"] for f in data["files"]]
    else:
        names = _ANCHOR.findall(r.body.decode("utf-8", "replace"))
    return versions_from_filenames(package, names)


def catalog_versions(catalog: Catalog, package: str) -> set[Version]:
    out = set()
    for r in catalog.for_package(package):
        for v in r.file_versions() | {r.package_version}:
            try:
                out.add(Version(v))
            except InvalidVersion:
                continue
    return out


def newer_than_catalog(catalog: Catalog, package: str, listed: set[str]) -> list[str]:
    """Index versions newer than anything the catalog knows, oldest first."""
    known = catalog_versions(catalog, package)
    newest = max(known) if known else Version("0")
    return sorted((v for v in listed if Version(v) > newest), key=Version)


@dataclass
class Freshness:
    package: str
    index: str
    newer: list[str]
    error: str | None = None  # why the index was not checked (too slow, unreachable, malformed); None: it was

    @property
    def checked(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str | None:
        if self.error:
            return None
        if not self.newer:
            return None
        return (f"the package index lists {self.package} {', '.join(self.newer)}, which the catalog does not know yet; "
                "run mambaenv catalog refresh (or upgrade mambaenv) to see its wheels")

    def to_dict(self) -> dict:
        return {"package": self.package, "index": self.index, "checked": self.checked, "newer": self.newer, "error": self.error,
                "message": self.message}


def check_freshness(catalog: Catalog, package: str, url: str | None = None, timeout: float = INDEX_DEADLINE_S) -> Freshness:
    url = url or index_url()
    try:
        listed = index_versions(package, url, timeout=timeout)
    except (PageUnread, ValueError) as e:
        return Freshness(package, url, [], f"not checked: {e}")
    return Freshness(package, url, newer_than_catalog(catalog, package, listed))


def guessed_wheel(catalog: Catalog, package: str, version: str, env) -> WheelAsset:
    """The file upstream's setup.py (as of the newest known release) would ask for, for this version."""
    newest = catalog.for_package(package)[0]
    rec = newest.record
    style = (rec.get("setup_py") or {}).get("cuda_tag_style", "major")
    cuda = cuda_tag(style, env.torch_cuda or "0.0")
    major = cuda_tag("major", env.torch_cuda or "0.0")
    machine = env.machine if (rec.get("setup_py") or {}).get("platform") == "native" else "x86_64"
    torch = env.ngc_version or env.torch_major_minor
    local = LocalTag(cuda=cuda, torch=torch, cxx11_abi=bool(env.cxx11_abi) or bool(env.ngc_version))
    name = format_wheel_filename(package, version, local, env.python, machine)
    tag = f"v{version}"
    bounds = archs_bounds_for_cuda_major(rec.get("arch_rules"), int(major)) if major.isdigit() else None
    return WheelAsset(package, tag, version, env.python, local, machine, name, release_url(newest.repo, tag, name),
                      source="probed", archs_bounds=bounds)


def probe(url: str, mirrors: list[str], timeout: float = INDEX_DEADLINE_S, session: requests.Session | None = None) -> str | None:
    """The first of the mirrors-then-original URLs that answers a HEAD request with success, or None; all of them
    together within ``timeout`` seconds (the answer only adds a version to resolve's)."""
    s = session or requests.Session()

    def first_found():
        for candidate in mirror_urls(url, mirrors):
            try:
                r = s.head(candidate, allow_redirects=True, timeout=timeout, headers={"User-Agent": "mambaenv"})
            except requests.RequestException:
                continue
            if r.status_code == 200:
                return candidate
        return None

    try:
        return within(timeout, url, first_found)
    except PageUnread:
        return None
