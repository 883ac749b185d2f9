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

import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from mambaenv.errors import WheelhouseError

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

    @property
    def local_path(self) -> Path | None:
        return Path(unquote(urlparse(self.url).path)) if self.url.startswith("file:") else None


# --- reading indexes (pure parsers, then the fetchers) ----------------------------------------------

def is_plain_wheel_name(name: str) -> bool:
    """A name from an index becomes a file name here: one path component, not hidden, a .whl; anything else is not listed."""
    return name.endswith(".whl") and name == Path(name).name and "\\" not in name and not name.startswith(".") and "\0" not in name


def _anchors(text: str) -> list[dict]:
    """The attributes of every ``<a href>`` in an HTML page."""
    from html.parser import HTMLParser  # start-up: HTML is parsed only when a wheelhouse is read

    class Anchors(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[dict] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a" and dict(attrs).get("href"):
                self.links.append(dict(attrs))

    parser = Anchors()
    parser.feed(text)
    return parser.links


def canonicalize_name(name: str) -> str:
    from packaging.utils import canonicalize_name as canonical  # start-up: packaging.tags loads only when a wheelhouse is read

    return canonical(name)


def _archs(value) -> tuple[str, ...] | None:
    items = value.split(",") if isinstance(value, str) else (value or [])
    archs = tuple(a.strip() for a in items if re.fullmatch(r"\d+\.\d+", str(a).strip()))
    return archs or None


def parse_simple_html(text: str, page_url: str, wheelhouse: str) -> list[Candidate]:
    """PEP 503: ``<a href="../../packages/x.whl#sha256=HEX">x.whl</a>``; the file name is the href's last part."""
    out = []
    for link in _anchors(text):
        url, _, frag = link["href"].partition("#")
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if not is_plain_wheel_name(name):
            continue
        algo, _, digest = frag.partition("=")
        out.append(Candidate(name, urljoin(page_url, url), digest.lower() if algo == "sha256" and digest else None, wheelhouse,
                             _archs(link.get("data-gpu-archs"))))
    return out


def parse_simple_json(data: dict, page_url: str, wheelhouse: str) -> list[Candidate]:
    """PEP 691: ``{"files": [{"filename": ..., "url": ..., "hashes": {"sha256": ...}}]}``."""
    out = []
    for f in data.get("files", []):
        name = f.get("filename", "")
        if is_plain_wheel_name(name):
            out.append(Candidate(name, urljoin(page_url, f.get("url", name)), (f.get("hashes") or {}).get("sha256"), wheelhouse,
                                 _archs(f.get("_gpu_archs"))))
    return out


def _list_http(base: str, project: str, wheelhouse: str, timeout: float = 30) -> list[Candidate]:
    import requests  # start-up: requests loads only for a wheelhouse served over http

    bases = [base.rstrip("/") + "/"]
    if not base.rstrip("/").endswith("simple"):
        bases.append(bases[0] + "simple/")
    for b in bases:
        page = f"{b}{project}/"
        try:
            r = requests.get(page, headers={"Accept": ACCEPT}, timeout=timeout)
        except requests.RequestException as e:
            raise WheelhouseError(f"cannot read wheelhouse {wheelhouse} ({type(e).__name__})", "check the URL and that its server runs") from None
        if r.status_code == 404:
            continue
        if r.status_code != 200:
            raise WheelhouseError(f"wheelhouse {wheelhouse} answered HTTP {r.status_code} for {project}", "check the URL")
        if r.headers.get("Content-Type", "").split(";")[0].strip() == JSON_TYPE:
            found = parse_simple_json(r.json(), r.url, wheelhouse)
        else:
            found = parse_simple_html(r.text, r.url, wheelhouse)
        return [replace(c, index=b) for c in found]
    return []  # the index does not know the project: nothing published for it yet


def _list_folder(root: Path, project: str, wheelhouse: str) -> list[Candidate]:
    if not root.is_dir():
        raise WheelhouseError(f"wheelhouse {wheelhouse} is not a folder", "give a folder written by mambaenv publish, a folder of wheels, or an index URL")
    for simple in (root / "simple", root):
        page = simple / project / "index.html"
        if page.is_file():
            index = simple.resolve().as_uri() + "/"
            return [replace(c, index=index) for c in parse_simple_html(page.read_text(errors="replace"), page.as_uri(), wheelhouse)]
    if (root / "simple").is_dir():
        return []
    files = sorted(root.glob("*.whl")) + sorted((root / "packages").glob("*.whl"))
    return [Candidate(p.name, p.resolve().as_uri(), None, wheelhouse) for p in files]


def list_wheels(wheelhouse: str, project: str) -> list[Candidate]:
    """Every wheel of ``project`` the wheelhouse lists (any version, any tags)."""
    normalized = canonicalize_name(project)
    if wheelhouse.startswith(("http://", "https://")):
        found = _list_http(wheelhouse, normalized, wheelhouse)
    else:
        path = Path(unquote(urlparse(wheelhouse).path)) if wheelhouse.startswith("file:") else Path(wheelhouse).expanduser()
        found = _list_folder(path, normalized, wheelhouse)
    return [c for c in found if _project_of(c.filename) == normalized]


def _project_of(filename: str) -> str:
    return canonicalize_name(filename.split("-", 1)[0])
