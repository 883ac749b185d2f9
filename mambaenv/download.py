"""Download one wheel into mambaenv's cache and place a copy where the user asked (shared by download, bundle, install, docker)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from mambaenv.config import cache_dir
from mambaenv.config import mirrors as configured_mirrors
from mambaenv.fetch import DEFAULT_SEGMENTS, Downloader
from mambaenv.render import progress
from mambaenv.wheel import verify_wheel_file
from mambaenv.wheelname import filename_from_url


def downloader(segments: int | None = None) -> Downloader:
    return Downloader(cache_dir() / "downloads", segments=segments or DEFAULT_SEGMENTS)


def fetch_to(url: str, dest, sha256: str | None, size: int | None, mirrors, segments: int | None, show_progress: bool):
    """Fetch into the cache, then place a copy (a hard link when possible) at dest/<file name>."""
    name = filename_from_url(url)
    if url.startswith("file:"):  # a wheelhouse on a local or NFS folder: no download, same checks
        from mambaenv.wheelhouse import place_local_file

        return place_local_file(url, dest, sha256, name)
    dl = downloader(segments)
    if show_progress:
        with progress(name) as cb:
            got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, cb, verify_wheel_file)
    else:
        got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, None, verify_wheel_file)
    if dest is None:
        return got, got.path
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    tmp = dest / f".{name}.mambaenv-tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(got.path, tmp)
    except OSError:
        shutil.copyfile(got.path, tmp)
    os.replace(tmp, target)
    return got, target
