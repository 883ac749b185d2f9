"""One GET of a small answer (an index page, a GitHub API page) under one deadline and one size bound.

requests' timeouts are per read: a server that sends a byte a second never trips them, and a 300 MB page is read
into memory whole. Here the whole answer (name look-up, connect, redirects, every byte) gets one deadline, and
the body stops at ``max_bytes``. The request runs on a daemon thread and is abandoned at the deadline: a DNS
look-up or a blocked read cannot be interrupted, only left behind, and a daemon thread never holds the exit.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from mambaenv.errors import PageUnread

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Page:
    url: str  # after redirects: where the body came from, the base its links are relative to
    status: int
    content_type: str  # the media type alone, lower case ("text/html")
    body: bytes
    headers: dict  # requests' case-insensitive mapping


def within(deadline_s: float, what: str, fn, *args):
    """``fn(*args)`` given at most ``deadline_s``: its result or its exception; PageUnread when it has not returned."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=run, daemon=True, name=f"mambaenv-{what[:40]}")
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        late = PageUnread(f"{what} sent no whole answer within {deadline_s:g} s")
        late.timed_out = True
        raise late
    if "error" in box:
        raise box["error"]
    return box["result"]


def read_page(url: str, deadline_s: float, max_bytes: int, headers: dict | None = None, session=None) -> Page:
    """GET ``url`` whole within ``deadline_s``, at most ``max_bytes`` of body; any failure is one PageUnread."""
    import requests  # start-up: requests loads only when a page is read

    def get() -> Page:
        s = session or requests.Session()
        with s.get(url, headers={"User-Agent": "mambaenv", **(headers or {})}, stream=True, timeout=(deadline_s, deadline_s)) as r:
            declared = r.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PageUnread(f"{url} is {int(declared)} bytes, more than the {max_bytes} such a page can need")
            body = bytearray()
            for chunk in r.iter_content(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise PageUnread(f"{url} sent more than the {max_bytes} bytes such a page can need; stopped there")
            kind = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
            return Page(r.url, r.status_code, kind, bytes(body), r.headers)

    try:
        return within(deadline_s, url, get)
    except requests.RequestException as e:
        raise PageUnread(f"cannot read {url} ({'no such host (DNS)' if is_dns_failure(e) else type(e).__name__})") from None


def link_problem(page_url: str, link_url: str) -> str | None:
    """A link stays within its page's scheme: an http page may send a client to http or https, an https page only to
    https (never a step down), a local page only to local files. A remote page naming ``file:///...`` would otherwise
    make mambaenv copy a local file into --dest or a bundle. None: the link may be followed."""
    page, link = urlsplit(page_url).scheme.lower(), urlsplit(link_url).scheme.lower()
    allowed = {"http": ("http", "https"), "https": ("https",), "file": ("file",)}.get(page, ())
    if link in allowed:
        return None
    return f"its link leaves the scheme of the page that gave it ({link or 'no scheme'} from a {page or 'schemeless'} page); not followed"


def is_dns_failure(e: BaseException) -> bool:
    """The host name did not resolve: no retry within one command can change that. requests wraps the resolver's error
    in urllib3's (``MaxRetryError.reason``, ``NameResolutionError``), so the whole chain is searched."""
    todo, seen = [e], set()
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return True
        linked = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        todo += [x for x in linked if isinstance(x, BaseException)]
    return False
