"""Refresh the catalog from GitHub's release API: the live asset list is the authority."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import requests

from mambaenv import jsonshape
from mambaenv.atomic import write_bytes
from mambaenv.catalog import LIVE_FILE
from mambaenv.errors import MambaenvError, PageUnread
from mambaenv.httpget import link_problem, read_page

API = os.environ.get("MAMBAENV_GITHUB_API", "https://api.github.com")
PER_PAGE = 100
MAX_PAGES = 20


def _headers() -> dict:
    h = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "mambaenv"}
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def _rate_limit_message(headers) -> str:
    reset = headers.get("X-RateLimit-Reset")
    when = ""
    if reset and reset.isdigit():
        when = f" (resets in {max(0, int(reset) - int(time.time())) // 60 + 1} min)"
    return f"GitHub API rate limit reached{when}"


# One release in the API's answer, as read here (the fields used; GitHub sends many more)
RELEASES_SHAPE = [{"tag_name": str, "?assets": [{"name": str, "?size": (int, None), "?browser_download_url": (str, None),
                                                 "?digest": (str, None)}]}]
PAGE_DEADLINE_S = 30.0  # one page of releases, whole: a server that drips bytes cannot hold refresh for ever
MAX_PAGE_BYTES = 32 << 20  # 100 releases with their assets are a few MiB


def _release_assets(rel: dict, page_url: str) -> list[dict]:
    """The assets of one release as the live list keeps them; an asset URL is taken only within the API page's scheme
    (https from GitHub), so that an answer naming file:///... never makes download copy a local file."""
    out = []
    for a in rel.get("assets") or []:
        url = a.get("browser_download_url")
        if url is not None and link_problem(page_url, url) is not None:
            raise MambaenvError(f"the GitHub API answer {page_url} gives asset {a['name']!r} the URL {url!r}, outside the API's scheme",
                                "check MAMBAENV_GITHUB_API and the proxy in front of it; the shipped catalog still works")
        out.append({"name": a["name"], "size": a.get("size"), "url": url, "digest": a.get("digest")})
    return out


def _get_page(url: str, repo: str, session) -> tuple[list, str | None]:
    """(the releases on one page of the API's answer, checked; the next page's URL)."""
    try:
        page = read_page(url, PAGE_DEADLINE_S, MAX_PAGE_BYTES, _headers(), session)
    except PageUnread as e:
        raise MambaenvError(f"cannot reach the GitHub API: {e.message}", "work offline (the shipped catalog is used) or set HTTPS_PROXY") from None
    if page.status in (403, 429) and page.headers.get("X-RateLimit-Remaining") == "0":
        raise MambaenvError(_rate_limit_message(page.headers), "set GITHUB_TOKEN to a personal access token, or try later")
    if page.status != 200:
        raise MambaenvError(f"GitHub API answered {page.status} for {repo}", "try again later; the shipped catalog still works")
    fix = "check MAMBAENV_GITHUB_API and the proxy in front of it; the shipped catalog still works"
    try:
        releases = jsonshape.checked(jsonshape.loads(page.body, f"the GitHub API answer {page.url}"), RELEASES_SHAPE,
                                     f"the GitHub API answer {page.url}")
    except ValueError as e:
        raise MambaenvError(str(e), fix) from None
    return releases, _next_link(page.headers.get("Link", ""))


def _next_link(header: str) -> str | None:
    return next((link.get("url") for link in requests.utils.parse_header_links(header) if link.get("rel") == "next"), None)


def list_release_assets(repo: str, api: str | None = None, session: requests.Session | None = None) -> dict[str, list[dict]]:
    """{tag: [{name, size, url, digest}]} for every release of ``repo``, all pages."""
    api = (api or API).rstrip("/")
    url = f"{api}/repos/{repo}/releases?per_page={PER_PAGE}"
    out: dict[str, list[dict]] = {}
    for _ in range(MAX_PAGES):
        releases, nxt = _get_page(url, repo, session)
        for rel in releases:
            out[rel["tag_name"]] = _release_assets(rel, url)
        if not nxt:
            break
        url = nxt
    return out


def refresh(cache_dir: Path, repos: dict[str, str], api: str | None = None) -> dict[str, int]:
    """Write the live lists into the cache atomically; returns the number of releases per package."""
    live = {pkg: list_release_assets(repo, api) for pkg, repo in repos.items()}
    write_bytes(Path(cache_dir) / LIVE_FILE, json.dumps({**live, "_fetched_at": int(time.time())}).encode())
    return {pkg: len(v) for pkg, v in live.items()}
