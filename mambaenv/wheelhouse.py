"""Read wheelhouses (a local folder, file:// or an http(s) PEP 503/691 index): which wheels each lists, and a listed
file from a folder. Which of them fits a target is the planner's decision (plan.py), through compat.

Which wheelhouses are asked, and in what order, is config.wheelhouses (flags, MAMBAENV_WHEELHOUSE, config file).

For one wheelhouse and one project, the file list comes from:
- http(s): ``<url>/<project>/`` asked for PEP 691 JSON first (``Accept``), PEP 503 HTML otherwise; on a 404 a
  URL not ending in ``simple`` is tried again as ``<url>/simple/<project>/`` (the folder ``mambaenv publish`` wrote);
- a folder or file://: ``simple/<project>/index.html`` when the folder was written by ``mambaenv publish``
  (or is itself a ``simple`` folder), else the ``*.whl`` files in it and in its ``packages/``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from mambaenv.errors import PageUnread, WheelhouseError

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


@dataclass(frozen=True)
class Candidate:
    """One wheel a wheelhouse lists."""

    filename: str
    url: str  # absolute: http(s)://... or file:///...
    sha256: str | None
    wheelhouse: str  # as the user gave it
    gpu_archs: tuple[str, ...] | None = None  # what publish --gpu-arch recorded; None: not known
    index: str | None = None  # the PEP 503 index that lists it (pip/uv --index-url); None: a plain folder of wheels
    refused: str | None = None  # why the link is not followed (it leaves its page's scheme or folder); None: usable

    @property
    def local_path(self) -> Path | None:
        return Path(unquote(urlparse(self.url).path)) if self.url.startswith("file:") else None


# --- reading indexes (pure parsers, then the fetchers) ----------------------------------------------

def is_plain_wheel_name(name: str) -> bool:
    """A name from an index becomes a file name here: one path component, not hidden, a .whl; anything else is not listed."""
    return name.endswith(".whl") and name == Path(name).name and "\\" not in name and not name.startswith(".") and "\0" not in name


MAX_PAGE_BYTES = 16 << 20  # a project page lists files, a few hundred bytes each: PyPI's torch page is under 2 MiB
MAX_LINKS = 20_000  # files on one project page; more is not a wheelhouse, and parsing them is minutes
PAGE_DEADLINE_S = 10.0  # the whole answer of one page: connect, redirects, every byte
# wheelhouses that did not answer in time in this process: not asked again (for the next package) within one command
_UNREADABLE: dict[str, str] = {}


def _anchors(text: str, page: str) -> list[dict]:
    """The attributes of every ``<a href>`` in an HTML page; more than MAX_LINKS is refused, not parsed to the end."""
    from html.parser import HTMLParser  # start-up: HTML is parsed only when a wheelhouse is read

    class Anchors(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[dict] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a" and dict(attrs).get("href"):
                self.links.append(dict(attrs))

    parser = Anchors()
    for at in range(0, len(text), 1 << 16):  # fed in pieces, so that a flood of links stops at the bound
        parser.feed(text[at:at + (1 << 16)])
        if len(parser.links) > MAX_LINKS:
            raise WheelhouseError(f"{page} lists more than {MAX_LINKS} files; not read", "a project page of a wheelhouse lists its wheels only")
    parser.close()
    return parser.links


def canonicalize_name(name: str) -> str:
    from packaging.utils import canonicalize_name as canonical  # start-up: packaging.tags loads only when a wheelhouse is read

    return canonical(name)


def _archs(value) -> tuple[str, ...] | None:
    items = value.split(",") if isinstance(value, str) else (value or [])
    archs = tuple(a.strip() for a in items if re.fullmatch(r"\d+\.\d+", str(a).strip()))
    return archs or None


def _candidate(name: str, page_url: str, href: str, digest, wheelhouse: str, archs) -> Candidate:
    url = urljoin(page_url, href)
    from mambaenv.httpget import link_problem  # start-up: only a wheelhouse page has links to judge

    return Candidate(name, url, digest, wheelhouse, _archs(archs), refused=link_problem(page_url, url))


def parse_simple_html(text: str, page_url: str, wheelhouse: str) -> list[Candidate]:
    """PEP 503: ``<a href="../../packages/x.whl#sha256=HEX">x.whl</a>``; the file name is the href's last part."""
    out = []
    for link in _anchors(text, page_url):
        url, _, frag = link["href"].partition("#")
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if not is_plain_wheel_name(name):
            continue
        algo, _, digest = frag.partition("=")
        digest = digest.lower() if algo == "sha256" and digest else None
        out.append(_candidate(name, page_url, url, digest, wheelhouse, link.get("data-gpu-archs")))
    return out


# PEP 691 as read here: what a wheelhouse's JSON page must look like before anything is taken from it
SIMPLE_JSON_SHAPE = {"files": [{"filename": str, "?url": str, "?hashes": {...: str}, "?_gpu_archs": ([str], str, None)}]}


def parse_simple_json(data, page_url: str, wheelhouse: str) -> list[Candidate]:
    """PEP 691: ``{"files": [{"filename": ..., "url": ..., "hashes": {"sha256": ...}}]}``."""
    from mambaenv import jsonshape  # start-up: only a wheelhouse that answers JSON needs the shape check

    problem = jsonshape.problem(data, SIMPLE_JSON_SHAPE)
    if problem:
        raise WheelhouseError(f"wheelhouse {wheelhouse} answered {page_url} with JSON that is not a PEP 691 page: {problem}",
                              "check what serves that URL (mambaenv publish writes valid pages)")
    out = []
    for f in data["files"]:
        name = f["filename"]
        if is_plain_wheel_name(name):
            digest = (f.get("hashes") or {}).get("sha256")
            out.append(_candidate(name, page_url, f.get("url", name), digest.lower() if digest else None, wheelhouse, f.get("_gpu_archs")))
    return out


def _read_http_page(page: str, wheelhouse: str):
    from mambaenv.httpget import read_page  # start-up: requests loads only for a wheelhouse served over http

    try:
        return read_page(page, PAGE_DEADLINE_S, MAX_PAGE_BYTES, {"Accept": ACCEPT})
    except PageUnread as e:
        message = f"cannot read wheelhouse {wheelhouse}: {e.message}"
        if e.timed_out:  # too slow once: not waited for again, for the next package, within this command
            _UNREADABLE[wheelhouse] = message
        raise WheelhouseError(message, "check the URL and that its server runs") from None


def _list_http(base: str, project: str, wheelhouse: str) -> list[Candidate]:
    from mambaenv.jsonshape import loads  # start-up: as above

    bases = [base.rstrip("/") + "/"]
    if not base.rstrip("/").endswith("simple"):
        bases.append(bases[0] + "simple/")
    for b in bases:
        r = _read_http_page(f"{b}{project}/", wheelhouse)
        if r.status == 404:
            continue
        if r.status != 200:
            raise WheelhouseError(f"wheelhouse {wheelhouse} answered HTTP {r.status} for {project}", "check the URL")
        if r.content_type == JSON_TYPE:
            try:
                data = loads(r.body, r.url)
            except ValueError as e:
                raise WheelhouseError(f"wheelhouse {wheelhouse}: {e}", "check what serves that URL") from None
            return [replace(c, index=b) for c in parse_simple_json(data, r.url, wheelhouse)]
        return [replace(c, index=b) for c in parse_simple_html(r.body.decode("utf-8", "replace"), r.url, wheelhouse)]
    return []  # the index does not know the project: nothing published for it yet


def _list_folder(root: Path, project: str, wheelhouse: str) -> list[Candidate]:
    from mambaenv.jsonshape import read_file  # start-up: only a wheelhouse in a folder reads one

    if not root.is_dir():
        raise WheelhouseError(f"wheelhouse {wheelhouse} is not a folder", "give a folder written by mambaenv publish, a folder of wheels, or an index URL")
    for simple in (root / "simple", root):
        page = simple / project / "index.html"
        if page.is_file():
            try:
                text = read_file(page, str(page), MAX_PAGE_BYTES).decode("utf-8", "replace")
            except (ValueError, OSError) as e:
                raise WheelhouseError(f"cannot read wheelhouse {wheelhouse}: {e}", "publish it again") from None
            index = simple.resolve().as_uri() + "/"
            return [replace(_inside(c, root), index=index) for c in parse_simple_html(text, page.as_uri(), wheelhouse)]
    if (root / "simple").is_dir():
        return []
    files = sorted(root.glob("*.whl")) + sorted((root / "packages").glob("*.whl"))
    return [Candidate(p.name, p.resolve().as_uri(), None, wheelhouse) for p in files]


def _inside(c: Candidate, root: Path) -> Candidate:
    """A local page's link stays inside its wheelhouse folder (a symlink leading out counts as out)."""
    if c.refused or c.local_path is None:
        return c
    if c.local_path.resolve().is_relative_to(root.resolve()):
        return c
    return dataclasses.replace(c, refused=f"its link leads out of the wheelhouse folder ({c.local_path}); not followed")


def list_wheels(wheelhouse: str, project: str) -> list[Candidate]:
    """Every wheel of ``project`` the wheelhouse lists (any version, any tags); links it may not follow carry ``refused``."""
    normalized = canonicalize_name(project)
    if wheelhouse in _UNREADABLE:
        raise WheelhouseError(_UNREADABLE[wheelhouse], "check the URL and that its server runs")
    if wheelhouse.startswith(("http://", "https://")):
        found = _list_http(wheelhouse, normalized, wheelhouse)
    else:
        path = Path(unquote(urlparse(wheelhouse).path)) if wheelhouse.startswith("file:") else Path(wheelhouse).expanduser()
        found = _list_folder(path, normalized, wheelhouse)
    return [c for c in found if _project_of(c.filename) == normalized]


def _project_of(filename: str) -> str:
    return canonicalize_name(filename.split("-", 1)[0])
