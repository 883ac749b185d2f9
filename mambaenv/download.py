"""Download one wheel into mambaenv's cache and place a copy where the user asked (shared by download, bundle, install, docker)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import unquote, urlparse

from mambaenv.catalog import catalog_sha256
from mambaenv.config import cache_dir
from mambaenv.config import mirrors as configured_mirrors
from mambaenv.digest import sha256_file
from mambaenv.errors import MambaenvError, WheelhouseError
from mambaenv.fetch import Downloader, Fetched, check_sha256, place_copy
from mambaenv.packages import BY_NAME
from mambaenv.wheel import verify_published_wheel, verify_wheel_file
from mambaenv.wheelname import wheel_filename_from_url


def downloader(segments: int | None = None) -> Downloader:
    return Downloader(cache_dir() / "downloads", segments=segments)  # None: the count follows the measured rate


def fetch_to(url: str, dest, *, sha256: str | None = None, size: int | None = None, mirrors=(), segments: int | None = None,
             show_progress: bool = False, local_wheelhouse: bool = True):
    """Fetch into the cache, then place an independent copy at dest/<file name> and report the sha256 of the bytes placed.

    ``sha256``: the digest the bytes must have; None: the one the release publishes for this file, when the catalog
    knows it. ``local_wheelhouse``: a file: URL is a wheelhouse link to copy; False (a URL the user typed) sends it
    to the downloader, which refuses it with the right advice (--offline-wheel). ``dest`` None: the cache's copy."""
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
    known = BY_NAME.get(name.split("-", 1)[0])
    most = known.max_wheel_bytes if known else None  # no size known: at least no more than such a wheel can weigh
    if show_progress:
        from mambaenv.render import progress  # start-up: --json transfers load no renderer

        with progress(name) as cb:
            got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, cb, verify, most)
    else:
        got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, None, verify, most)
    if dest is None:
        return got, got.path
    dest = Path(dest)

    def unchanged(_path, digest):
        if digest != got.sha256:
            raise MambaenvError(f"the cached {name} changed while it was being copied", "run the same command again")

    try:
        dest.mkdir(parents=True, exist_ok=True)
        digest = place_copy(got.path, dest / name, unchanged)  # a copy, not a hard link: editing it cannot change the cache
    except OSError as e:
        raise MambaenvError(f"cannot place {name} in {dest} ({e.strerror})", "give a writable --dest with enough free space") from None
    return dataclasses.replace(got, path=got.path, sha256=digest), dest / name


# --- a file from a folder wheelhouse (or the build cache): copied while hashed, never downloaded ----------------------------------------------------------

def place_local_file(url: str, dest, sha256: str | None, name: str):
    """A file:// wheel: copied to dest/<name> while hashed (never a hard link), then checked like a download."""
    src = Path(unquote(urlparse(url).path))
    if not src.is_file():
        raise WheelhouseError(f"wheelhouse file {src} is missing", "publish it again (mambaenv publish), or fix the wheelhouse path")
    def listed_and_whole(path: Path, digest: str) -> None:
        if sha256 and digest != sha256.lower():
            raise WheelhouseError(f"{src} does not match the sha256 its index lists ({digest[:12]}… vs {sha256[:12]}…)",
                                  "the wheelhouse file was changed after publishing; publish a good copy under a new version")
        verify_wheel_file(path, name)

    target = src
    if dest is not None and (Path(dest) / name).resolve() != src.resolve():
        Path(dest).mkdir(parents=True, exist_ok=True)
        target = Path(dest) / name
        digest = place_copy(src, target, listed_and_whole)  # the digest reported is of the bytes placed
    else:
        digest = sha256_file(src)
        listed_and_whole(src, digest)
    return Fetched(target, digest, target.stat().st_size, url, False, 0), target
