"""Refresh the catalog from GitHub's release API: the live asset list is the authority."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import requests

from mambaenv.catalog import LIVE_FILE
from mambaenv.errors import MambaenvError

API = os.environ.get("MAMBAENV_GITHUB_API", "https://api.github.com")
PER_PAGE = 100
MAX_PAGES = 20


def _headers() -> dict:
    h = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "mambaenv"}
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def _rate_limit_message(resp: requests.Response) -> str:
    reset = resp.headers.get("X-RateLimit-Reset")
    when = ""
    if reset and reset.isdigit():
        when = f" (resets in {max(0, int(reset) - int(time.time())) // 60 + 1} min)"
    return f"GitHub API rate limit reached{when}"


def list_release_assets(repo: str, api: str | None = None, session: requests.Session | None = None,
                        timeout: float = 20) -> dict[str, list[dict]]:
    """{tag: [{name, size, url, digest}]} for every release of ``repo``, all pages."""
    api = (api or API).rstrip("/")
    s = session or requests.Session()
    url = f"{api}/repos/{repo}/releases?per_page={PER_PAGE}"
    out: dict[str, list[dict]] = {}
    for _ in range(MAX_PAGES):
        try:
            resp = s.get(url, headers=_headers(), timeout=timeout)
        except requests.RequestException as e:
            raise MambaenvError(f"cannot reach the GitHub API: {type(e).__name__}",
                                "work offline (the shipped catalog is used) or set HTTPS_PROXY") from None
        if resp.status_code in (403, 429) and resp.headers.get("X-RateLimit-Remaining") == "0":
            raise MambaenvError(_rate_limit_message(resp), "set GITHUB_TOKEN to a personal access token, or try later")
        if resp.status_code != 200:
            raise MambaenvError(f"GitHub API answered {resp.status_code} for {repo}", "try again later; the shipped catalog still works")
        for rel in resp.json():
            out[rel["tag_name"]] = [
                {"name": a["name"], "size": a.get("size"), "url": a.get("browser_download_url"), "digest": a.get("digest")}
                for a in rel.get("assets", [])
            ]
        nxt = resp.links.get("next", {}).get("url")
        if not nxt:
            break
        url = nxt
    return out


def refresh(cache_dir: Path, repos: dict[str, str], api: str | None = None) -> dict[str, int]:
    """Write the live lists into the cache atomically; returns the number of releases per package."""
    live = {pkg: list_release_assets(repo, api) for pkg, repo in repos.items()}
    path = Path(cache_dir) / LIVE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**live, "_fetched_at": int(time.time())}))
    os.replace(tmp, path)
    return {pkg: len(v) for pkg, v in live.items()}
