"""Download one wheel into mambaenv's cache and place a copy where the user asked (shared by download, bundle, install, docker)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from mambaenv.catalog import catalog_sha256
from mambaenv.config import cache_dir
from mambaenv.config import mirrors as configured_mirrors
from mambaenv.errors import MambaenvError
from mambaenv.fetch import Downloader, check_sha256, copy_hashed
from mambaenv.wheel import verify_published_wheel, verify_wheel_file
from mambaenv.wheelhouse import place_local_file
from mambaenv.wheelname import wheel_filename_from_url


def downloader(segments: int | None = None) -> Downloader:
    return Downloader(cache_dir() / "downloads", segments=segments)  # None: the count follows the measured rate


def fetch_to(url: str, dest, sha256: str | None, size: int | None, mirrors, segments: int | None, show_progress: bool,
             local_wheelhouse: bool = True):
    """Fetch into the cache, then place an independent copy at dest/<file name> and report the sha256 of the bytes placed.

    ``sha256``: the digest the bytes must have; None: the one the release publishes for this file, when the catalog
    knows it. ``local_wheelhouse``: a file: URL is a wheelhouse link to copy; False (a URL the user typed) sends it
    to the downloader, which refuses it with the right advice (--offline-wheel)."""
    name = wheel_filename_from_url(url)
    sha256 = check_sha256(sha256)
    if local_wheelhouse and url.startswith("file:"):  # a wheelhouse on a local or NFS folder: no download, same checks

        return place_local_file(url, dest, sha256, name)
    if dest is not None and Path(dest).exists() and not Path(dest).is_dir():
        raise MambaenvError(f"--dest {dest} is a file, not a folder", "give a folder to place the wheel in")
    published = catalog_sha256(url)
    sha256 = sha256 or published
    dl = downloader(segments)
    # the downloader refuses any other bytes when a sha256 is given; only the release's own digest spares the CRC pass
    verify = verify_published_wheel if sha256 and sha256 == published else verify_wheel_file
    if show_progress:
        from mambaenv.render import progress  # start-up: --json transfers load no renderer

        with progress(name) as cb:
            got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, cb, verify)
    else:
        got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, None, verify)
    if dest is None:
        return got, got.path
    dest = Path(dest)
    target = dest / name
    tmp = dest / f".{name}.mambaenv-tmp"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        digest = copy_hashed(got.path, tmp)  # a copy, not a hard link: editing the placed file cannot change the cache
        if digest != got.sha256:
            raise MambaenvError(f"the cached {name} changed while it was being copied", "run the same command again")
        os.replace(tmp, target)
    except OSError as e:
        raise MambaenvError(f"cannot place {name} in {dest} ({e.strerror})", "give a writable --dest with enough free space") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dataclasses.replace(got, path=got.path, sha256=digest), target
