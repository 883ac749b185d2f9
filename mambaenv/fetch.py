"""Downloads that finish: parallel Range segments, resume, retries, mirrors, verification, a cache.

A file is fetched into ``partial/<key>.part`` with a ``.json`` beside it that records the server's
validators (ETag / Last-Modified / size) and each segment's progress. Only a verified file is moved,
atomically, into ``blobs/<sha256>/<name>``; so the cache never holds a half-written file, and a
killed run resumes where it stopped. A file lock per URL makes concurrent fetches of one file
share a single transfer.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from filelock import FileLock

from mambaenv.errors import MambaenvError
from mambaenv.wheelname import filename_from_url

CHUNK = 256 * 1024
MIN_SEGMENT = 4 * 1024 * 1024
DEFAULT_SEGMENTS = 8
RETRIES = 6
CONNECT_TIMEOUT = 15
READ_TIMEOUT = 60
META_EVERY = 1024 * 1024


class DownloadError(MambaenvError):
    exit_code = 3
    resumable = False  # True: the partial file is kept, so running the same command again resumes


class TransferInterrupted(DownloadError):
    resumable = True


@dataclass
class Fetched:
    path: Path
    sha256: str
    size: int
    url: str  # the URL that served it (a mirror, maybe)
    from_cache: bool
    bytes_transferred: int


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def mirror_urls(url: str, mirrors: list[str], mirrors_only: bool | None = None) -> list[str]:
    """Mirror prefixes first, in order, then the original (unless MAMBAENV_MIRROR_ONLY is set: where
    GitHub is blocked, waiting for its timeout helps nobody). ``{url}`` / ``{path}`` place the URL in a prefix."""
    if mirrors_only is None:
        mirrors_only = bool(os.environ.get("MAMBAENV_MIRROR_ONLY")) and bool(mirrors)
    out = []
    for m in mirrors:
        if "{url}" in m:
            out.append(m.replace("{url}", url))
        elif "{path}" in m:
            out.append(m.replace("{path}", urlparse(url).path.lstrip("/")))
        else:
            out.append(m.rstrip("/") + "/" + url)
    if not mirrors_only:
        out.append(url)
    return out


def make_session() -> requests.Session:
    """requests honours HTTPS_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE through trust_env; we keep that."""
    s = requests.Session()
    s.headers["User-Agent"] = "mambaenv"
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def _backoff(attempt: int) -> float:
    return min(0.2 * (2 ** attempt), 5.0)


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first[:512].lstrip().lower()
    return "text/html" in content_type or head.startswith(b"<!doctype html") or head.startswith(b"<html")


class _Progress:
    """Thread-safe byte counter feeding an optional callback (a rich progress bar)."""

    def __init__(self, callback, total: int | None):
        self.lock = threading.Lock()
        self.done = 0
        self.transferred = 0
        self.callback = callback
        self.total = total

    def add(self, n: int, transferred: bool = True) -> None:
        with self.lock:
            self.done += n
            if transferred:
                self.transferred += n
        if self.callback:
            self.callback(self.done, self.total)


class Downloader:
    def __init__(self, cache: Path, session: requests.Session | None = None, segments: int = DEFAULT_SEGMENTS,
                 retries: int = RETRIES, timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)):
        self.cache = Path(cache)
        self.session = session or make_session()
        self.segments = max(1, segments)
        self.retries = retries
        self.timeouts = timeouts
        for sub in ("blobs", "partial", "urls", "locks"):
            (self.cache / sub).mkdir(parents=True, exist_ok=True)

    # -- cache ----------------------------------------------------------------------------------
    def cached(self, url: str, sha256: str | None = None) -> Path | None:
        index = self.cache / "urls" / f"{url_key(url)}.json"
        try:
            entry = json.loads(index.read_text())
        except (OSError, ValueError):
            entry = None
        if entry:
            if sha256 and entry["sha256"] != sha256.lower():
                return None
            path = self.cache / "blobs" / entry["sha256"] / entry["name"]
            if path.is_file():
                return path
        if sha256:
            d = self.cache / "blobs" / sha256.lower()
            name = filename_from_url(url)
            if (d / name).is_file():
                return d / name
        return None

    def _store(self, url: str, part: Path, name: str, digest: str) -> Path:
        d = self.cache / "blobs" / digest
        d.mkdir(parents=True, exist_ok=True)
        final = d / name
        os.replace(part, final)
        index = self.cache / "urls" / f"{url_key(url)}.json"
        tmp = index.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "sha256": digest, "name": name}))
        os.replace(tmp, index)
        return final

    # -- public ---------------------------------------------------------------------------------
    def fetch(self, url: str, sha256: str | None = None, size: int | None = None, mirrors: list[str] | None = None,
              name: str | None = None, progress=None, verify=None) -> Fetched:
        """Fetch ``url`` (through ``mirrors`` first) into the cache and return the verified file."""
        name = name or filename_from_url(url)
        with FileLock(str(self.cache / "locks" / f"{url_key(url)}.lock")):
            hit = self.cached(url, sha256)
            if hit:
                return Fetched(hit, hit.parent.name, hit.stat().st_size, url, True, 0)
            errors = []
            for candidate in mirror_urls(url, mirrors or []):
                try:
                    return self._fetch_one(url, candidate, name, sha256, size, progress, verify)
                except DownloadError as e:
                    errors.append(f"{urlparse(candidate).netloc}: {e.message}")
            last = errors[-1] if errors else "no source"
            raise DownloadError(f"download of {name} failed ({'; '.join(errors) if len(errors) > 1 else last})",
                                "check the network or proxy (HTTPS_PROXY), add a mirror with --mirror, or fetch the URL in a browser "
                                "and use mambaenv install --offline-wheel FILE")

    # -- internals ------------------------------------------------------------------------------
    def _probe(self, url: str) -> tuple[str, int | None, bool, dict]:
        """Final URL after redirects, total size, whether Range works, validators."""
        for attempt in range(self.retries):
            try:
                r = self.session.get(url, headers={"Range": "bytes=0-0"}, stream=True, timeout=self.timeouts, allow_redirects=True)
            except requests.RequestException as e:
                err = f"{type(e).__name__}"
                time.sleep(_backoff(attempt))
                continue
            with r:
                if r.status_code >= 500 or r.status_code == 429:
                    err = f"HTTP {r.status_code}"
                    time.sleep(_backoff(attempt))
                    continue
                if r.status_code not in (200, 206):
                    raise DownloadError(f"HTTP {r.status_code}")
                validators = {k: r.headers.get(k) for k in ("ETag", "Last-Modified")}
                if r.status_code == 206:
                    total = r.headers.get("Content-Range", "").rsplit("/", 1)[-1]
                    return r.url, int(total) if total.isdigit() else None, True, validators
                length = r.headers.get("Content-Length")
                return r.url, int(length) if length and length.isdigit() else None, False, validators
        raise DownloadError(f"no answer after {self.retries} tries ({err})")

    def _fetch_one(self, key_url, url, name, sha256, size, progress, verify) -> Fetched:
        final_url, total, ranges, validators = self._probe(url)
        if size and total and size != total:
            raise DownloadError(f"server offers {total} bytes, the catalog says {size}")
        key = url_key(key_url)
        part = self.cache / "partial" / f"{key}.part"
        meta_path = self.cache / "partial" / f"{key}.json"
        meta = self._load_meta(meta_path, total, validators, ranges)
        if meta is None:
            part.unlink(missing_ok=True)
            meta = self._new_meta(total, validators, ranges)
        prog = _Progress(progress, total)
        already = sum(s[2] for s in meta["segments"])
        if already:
            prog.add(already, transferred=False)
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if total:
                os.ftruncate(fd, total)
            if ranges and total:
                self._run_segments(final_url, fd, meta, meta_path, prog)
            else:
                self._single_stream(final_url, fd, meta, meta_path, prog)
            os.fsync(fd)
        except DownloadError as e:
            if not e.resumable:
                self._discard(part, meta_path)
            raise
        finally:
            os.close(fd)
        try:
            digest = self._verify(part, name, sha256, verify)
        except DownloadError:
            self._discard(part, meta_path)
            raise
        meta_path.unlink(missing_ok=True)
        path = self._store(key_url, part, name, digest)
        return Fetched(path, digest, path.stat().st_size, url, False, prog.transferred)

    def _new_meta(self, total, validators, ranges) -> dict:
        if ranges and total:
            n = max(1, min(self.segments, total // MIN_SEGMENT or 1))
            step = -(-total // n)
            segs = [[i * step, min(total, (i + 1) * step) - 1, 0] for i in range(n)]
        else:
            segs = [[0, (total or 0) - 1, 0]]
        return {"total": total, "validators": validators, "ranges": ranges, "segments": segs}

    def _load_meta(self, path: Path, total, validators, ranges) -> dict | None:
        """Resume only when the server still describes the same file (size and ETag/Last-Modified)."""
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        same = meta.get("total") == total and all(
            meta["validators"].get(k) == v for k, v in validators.items() if v)
        if not same or not ranges or not meta.get("ranges"):
            return None
        return meta

    def _save_meta(self, path: Path, meta: dict, lock: threading.Lock) -> None:
        with lock:
            tmp = path.with_suffix(".jtmp")
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, path)

    def _run_segments(self, url, fd, meta, meta_path, prog) -> None:
        lock = threading.Lock()
        errors: list[DownloadError] = []
        threads = []
        for seg in meta["segments"]:
            if seg[0] + seg[2] > seg[1]:
                continue
            t = threading.Thread(target=self._segment_worker, args=(url, fd, seg, meta, meta_path, prog, lock, errors), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        self._save_meta(meta_path, meta, lock)
        if errors:
            raise errors[0]

    def _segment_worker(self, url, fd, seg, meta, meta_path, prog, lock, errors) -> None:
        attempt, since_meta = 0, 0
        while seg[0] + seg[2] <= seg[1]:
            if errors:
                return
            start = seg[0] + seg[2]
            try:
                with self.session.get(url, headers={"Range": f"bytes={start}-{seg[1]}"}, stream=True, timeout=self.timeouts) as r:
                    if r.status_code >= 500 or r.status_code == 429:
                        raise requests.HTTPError(f"HTTP {r.status_code}")
                    if r.status_code != 206:
                        errors.append(DownloadError(f"HTTP {r.status_code} for a Range request"))
                        return
                    for chunk in r.iter_content(CHUNK):
                        room = seg[1] - (seg[0] + seg[2]) + 1
                        chunk = chunk[:room]
                        os.pwrite(fd, chunk, seg[0] + seg[2])
                        seg[2] += len(chunk)
                        prog.add(len(chunk))
                        since_meta += len(chunk)
                        if since_meta >= META_EVERY:
                            self._save_meta(meta_path, meta, lock)
                            since_meta = 0
                        attempt = 0
                        if room <= len(chunk):
                            break
            except (requests.RequestException, ConnectionError, OSError):
                pass
            if seg[0] + seg[2] <= seg[1]:  # short body, reset or 5xx: back off and resume the segment
                attempt += 1
                if attempt > self.retries:
                    errors.append(TransferInterrupted(f"transfer kept failing after {self.retries} retries; run the same command again to resume"))
                    return
                time.sleep(_backoff(attempt))

    def _single_stream(self, url, fd, meta, meta_path, prog) -> None:
        """A server without Range: one stream, restarted from zero on failure."""
        for attempt in range(self.retries + 1):
            written = 0
            try:
                with self.session.get(url, stream=True, timeout=self.timeouts) as r:
                    if r.status_code >= 500 or r.status_code == 429:
                        raise requests.HTTPError(f"HTTP {r.status_code}")
                    if r.status_code != 200:
                        raise DownloadError(f"HTTP {r.status_code}")
                    expected = r.headers.get("Content-Length")
                    first = True
                    for chunk in r.iter_content(CHUNK):
                        if first and _looks_like_html(chunk, r.headers.get("Content-Type", "")):
                            raise DownloadError("the server sent an HTML page, not the file (a login, proxy or error page?)")
                        first = False
                        os.pwrite(fd, chunk, written)
                        written += len(chunk)
                        prog.add(len(chunk))
                    os.ftruncate(fd, written)
                    if expected and int(expected) != written:
                        raise requests.exceptions.ChunkedEncodingError("short body")
                    return
            except DownloadError:
                raise
            except (requests.RequestException, OSError):
                prog.add(-written, transferred=False)
                time.sleep(_backoff(attempt))
        raise DownloadError(f"transfer kept failing after {self.retries} retries")

    def _discard(self, part: Path, meta_path: Path) -> None:
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)

    def _verify(self, part: Path, name: str, sha256: str | None, verify) -> str:
        h = hashlib.sha256()
        with open(part, "rb") as f:
            first = f.read(512)
            h.update(first)
            for block in iter(lambda: f.read(1024 * 1024), b""):
                h.update(block)
        digest = h.hexdigest()
        if _looks_like_html(first, ""):
            part.unlink(missing_ok=True)
            raise DownloadError("the server sent an HTML page, not the file (a login, proxy or error page?)")
        if sha256 and digest != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(f"sha256 mismatch: got {digest[:16]}..., expected {sha256.lower()[:16]}...")
        if verify:
            try:
                verify(part, name)
            except MambaenvError as e:
                part.unlink(missing_ok=True)
                raise DownloadError(e.message) from None
        return digest


def rich_progress(label: str):
    """A context manager yielding a callback(done, total) that drives a rich progress bar."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    @contextmanager
    def _cm():
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                      transient=False) as p:
            task = p.add_task(label, total=None)

            def cb(done, total):
                p.update(task, completed=done, total=total)

            yield cb

    return _cm()
