"""Downloads that finish: parallel Range segments, resume, retries, mirrors, verification, a cache.

A file is fetched into ``partial/<key>.part`` with a ``.json`` beside it that records the server's
validators (ETag / Last-Modified / size) and each segment's progress, saved by time and on an
interrupt. Only a verified file is moved, atomically, into ``blobs/<sha256>/<name>``; so the cache
never holds a half-written file, and a killed run resumes where it stopped. A cache hit is hashed
again before it is used: a digest is only ever reported for bytes just hashed. A file lock per URL
makes concurrent fetches of one file share a single transfer.

The number of connections follows the measured rate. Nothing is known before the first bytes, so a large file
starts on MAX_CONNECTIONS (as aria2c -x16 does; a file of fewer 2 MiB pieces on one per piece). Once measured,
the per-connection rate sets the count: more, up to MAX_CONNECTIONS, while an added one still adds throughput;
fewer when the connections there are would finish the rest soon (a fast server), so the ones that finish take
over no more pieces. A finished connection otherwise takes over half of the largest remaining piece.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlsplit

import requests
from filelock import FileLock

from mambaenv import jsonshape
from mambaenv.atomic import replaced_on_success, write_bytes
from mambaenv.digest import sha256_file
from mambaenv.errors import BadInput, DownloadError, MambaenvError, TransferInterrupted
from mambaenv.httpget import is_dns_failure
from mambaenv.wheelname import filename_from_url, safe_filename

HASH_BLOCK = 1024 * 1024
CHUNK = 64 * 1024  # small reads: saved progress trails what arrived by at most this (and SAVE_EVERY_S)
MIN_SPLIT = 2 * 1024 * 1024  # a piece is split for another connection only when this much remains of it
DEFAULT_SEGMENTS = 16  # connections at the start (MAX_CONNECTIONS): 8 then 16 took 0.06 s longer on 48 MB
MAX_CONNECTIONS = 16
RETRIES = 6
CONNECT_TIMEOUT = 15
READ_TIMEOUT = 60
WIDEN_CAP_AFTER_S = 0.5  # without a refusal for this long, the connection cap doubles
SAVE_EVERY_S = 0.1  # progress is saved this often (and on an interrupt): a kill loses at most this much time
TICK_S = 0.1
RAMP_AFTER_S = 0.1  # measure this long before adding connections
FREE_SPACE_MARGIN = 16 * 1024 * 1024
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
URL_RECORD_SHAPE = {"sha256": jsonshape.sha256_hex, "name": str, "?served_by": (str, None), "?url": str}  # urls/<key>.json






class _Fatal(DownloadError):
    """A failure that retrying cannot fix (malformed URL, redirect loop, proxy refusal): reported at once."""


class _RangeUnusable(Exception):
    """The server's answers to Range requests cannot be trusted: fetch the file in one stream instead."""


@dataclass
class Fetched:
    path: Path
    sha256: str  # computed from the bytes at ``path`` during this call
    size: int
    url: str  # the URL that served the bytes (a mirror, maybe; recorded in the cache index for later hits)
    from_cache: bool
    bytes_transferred: int


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def check_sha256(value: str | None) -> str | None:
    """A malformed expected digest is refused before anything is downloaded."""
    if value is None:
        return None
    if not _SHA256.match(value.strip()):
        raise BadInput(f"malformed sha256 {value!r}: a sha256 is 64 hexadecimal digits", "copy the digest again (sha256sum FILE prints one)")
    return value.strip().lower()


def check_url(url: str) -> None:
    """Only http(s) URLs with a host; anything else fails at once with the reason, not after retries."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        raise BadInput(f"{url} is a local file, not a download", "install it with mambaenv install --offline-wheel FILE")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput(f"malformed URL {url!r}: only http:// and https:// URLs with a host can be downloaded", "check the URL")


def check_ca_bundle() -> None:
    """requests fails deep inside a request when REQUESTS_CA_BUNDLE names a missing file; say so first."""
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and not os.path.exists(path):
            raise BadInput(f"{var} names {path}, which does not exist", f"point {var} at your CA certificate file, or unset it")


def mirror_urls(url: str, mirrors: list[str], mirrors_only: bool | None = None) -> list[str]:
    """Mirror prefixes first, in order, then the original (unless MAMBAENV_MIRROR_ONLY is set: where
    GitHub is blocked, waiting for its timeout helps nobody). ``{url}`` / ``{path}`` place the URL in a prefix."""
    if mirrors_only is None:
        mirrors_only = bool(os.environ.get("MAMBAENV_MIRROR_ONLY"))  # with no mirror: no source at all, said at once
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
    s.max_redirects = 10
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=MAX_CONNECTIONS * 2, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def _backoff(attempt: int) -> float:
    return min(0.2 * (2 ** attempt), 5.0)


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first[:512].lstrip().lower()
    return "text/html" in content_type or head.startswith(b"<!doctype html") or head.startswith(b"<html")


def classify(e: Exception) -> DownloadError | None:
    """A requests failure that no retry can fix, as the error to report; None for a transient one."""
    if isinstance(e, requests.exceptions.TooManyRedirects):
        return _Fatal("the server redirects in a loop (more than 10 redirects)", "report the URL to whoever runs the server or mirror")
    if isinstance(e, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                      requests.exceptions.URLRequired, requests.exceptions.InvalidHeader)):
        return _Fatal(f"malformed URL ({str(e)[:160]})", "check the URL and the mirror prefixes")
    if is_dns_failure(e):  # the resolver said no such host: asking again within one command gets the same answer
        return _Fatal(f"no such host: the name did not resolve (DNS: {_root_cause(e)})",
                      "check the host name in the URL or mirror, and your DNS or proxy (HTTPS_PROXY)")
    if isinstance(e, requests.exceptions.ProxyError):
        return _Fatal(f"the proxy refused the request ({_root_cause(e)})", "check HTTPS_PROXY / HTTP_PROXY / NO_PROXY")
    if isinstance(e, requests.exceptions.SSLError):
        return _Fatal(f"TLS verification failed ({_root_cause(e)})", "set REQUESTS_CA_BUNDLE to your organisation's CA file")
    if isinstance(e, OSError) and not isinstance(e, requests.RequestException) and "CA certificate bundle" in str(e):
        return _Fatal(str(e)[:200], "point REQUESTS_CA_BUNDLE at an existing CA certificate file")
    return None


def _root_cause(e: BaseException) -> str:
    while e.__cause__ is not None or e.__context__ is not None:
        e = e.__cause__ or e.__context__
    text = str(e)
    return (text.split(": ", 1)[-1] if ": " in text else text)[:160] or type(e).__name__


def _disk_error(e: OSError, where: Path) -> DownloadError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        err = TransferInterrupted(f"no space left in {where}", "free some space and run the same command again: it resumes")
    else:
        err = TransferInterrupted(f"cannot write in {where} ({e.strerror})",
                                  "make it writable, or set MAMBAENV_CACHE_DIR to a writable folder, then run the same command again")
    return err


def pwrite_all(fd: int, data: bytes, pos: int) -> None:
    """All of ``data`` at ``pos``, or an OSError. A write into a nearly full disk can be short without an error; counting
    the whole piece as saved would let a resume trust bytes that never reached the file."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, pos)
        view, pos = view[n:], pos + n


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def copy_hashed(src: Path, out) -> str:
    """Copy ``src`` into the open binary file ``out`` and return the sha256 of the bytes written: an independent copy,
    never a hard link, so editing one cannot change the other."""
    h = hashlib.sha256()
    with open(src, "rb") as fi:
        for block in iter(lambda: fi.read(1024 * 1024), b""):
            h.update(block)
            out.write(block)
    return h.hexdigest()


def place_copy(src: Path, target: Path, check=None) -> str:
    """An independent copy of ``src`` at ``target``, made under a fresh name beside it and renamed in; the sha256 of the
    bytes placed. ``check(path, digest)`` sees the copy before it takes the name, and may refuse it (nothing stays)."""
    with replaced_on_success(target) as out:
        digest = copy_hashed(src, out)
        out.flush()
        if check is not None:
            check(Path(out.name), digest)
    return digest


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


class _Segments:
    """State shared by the segment workers and the controller: the meta, a lock, a stop flag, the outcome."""

    def __init__(self, meta: dict, prog: _Progress):
        self.meta = meta
        self.prog = prog
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error: DownloadError | None = None
        self.unusable: str | None = None
        self.busy = 0  # workers running
        self.orphans: list[list[int]] = []  # segments handed back by a worker the server refused
        self.cap: int | None = None  # the most connections the server took at once, once it refused one
        self.refused_at = 0.0  # when the server last refused a connection

    def widen_cap(self, now: float) -> None:
        """A refusal may have been a passing overload, not a limit: after a quiet spell the cap doubles, and a real
        limit answers the extra connections with a refusal again (one request each), which lowers it back."""
        with self.lock:
            if self.cap is not None and self.cap < MAX_CONNECTIONS and now - self.refused_at >= WIDEN_CAP_AFTER_S:
                self.cap = min(MAX_CONNECTIONS, self.cap * 2)
                self.refused_at = now

    def hand_back(self, seg: list[int]) -> bool:
        """A server that refuses a connection beyond its per-client limit (429/503) while others run: the segment
        waits for a free connection, and the count drops to what the server takes. False: no other worker runs."""
        with self.lock:
            if self.busy <= 1:
                return False
            self.orphans.append(seg)
            self.cap = min(self.cap or MAX_CONNECTIONS, self.busy - 1)
            self.refused_at = time.monotonic()
            return True

    def fail(self, e: DownloadError) -> None:
        with self.lock:
            self.error = self.error or e
        self.stop.set()

    def give_up_ranges(self, why: str) -> None:
        with self.lock:
            self.unusable = self.unusable or why
        self.stop.set()

    def remaining(self) -> int:
        with self.lock:
            return sum(max(0, s[1] - (s[0] + s[2]) + 1) for s in self.meta["segments"])


class _PrefixHash:
    """sha256 of the file's finished prefix, kept up while the segments arrive: a segment's bytes below its current
    position are final (retries resume at it, splits start above it), so when the last byte lands only the tail is
    left to hash, not the whole file. The digest is of the bytes read back from the file, as a hash after the fact."""

    def __init__(self, fd: int, st: _Segments, total: int):
        self.fd, self.st, self.total = fd, st, total
        self.h = hashlib.sha256()
        self.done = 0
        self.error: OSError | None = None
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def frontier(self) -> int:
        with self.st.lock:
            open_starts = [s[0] + s[2] for s in self.st.meta["segments"] if s[0] + s[2] <= s[1]]
        return min(open_starts) if open_starts else self.total

    def _hash_to(self, end: int, stoppable: bool = False) -> None:
        while self.done < end and not (stoppable and self.halt.is_set()):  # a stop (Ctrl-C) waits for one block, not the range
            block = os.pread(self.fd, min(HASH_BLOCK, end - self.done), self.done)
            if not block:
                raise OSError(errno.EIO, "short read")
            self.h.update(block)
            self.done += len(block)

    def _follow(self) -> None:
        try:
            while not self.halt.is_set() and self.done < self.total:
                end = self.frontier()
                if end - self.done >= HASH_BLOCK or end == self.total:
                    self._hash_to(end, stoppable=True)
                else:
                    self.halt.wait(TICK_S / 4)
        except OSError as e:
            self.error = e

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        self.thread.join()

    def digest(self) -> str | None:
        """The whole file's digest once every segment is done; None when the follower failed (then hash after)."""
        self.stop()
        if self.error is not None:
            return None
        self._hash_to(self.total)
        return self.h.hexdigest()


class Downloader:
    def __init__(self, cache: Path, session: requests.Session | None = None, segments: int | None = DEFAULT_SEGMENTS,
                 retries: int = RETRIES, timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)):
        """``segments``: the number of connections, fixed; None: start with DEFAULT_SEGMENTS and follow the measured rate."""
        self.cache = Path(cache)
        self.session = session or make_session()
        self.adaptive = segments is None
        self.segments = max(1, segments or DEFAULT_SEGMENTS)
        self.retries = retries
        self.timeouts = timeouts
        self.writable = True
        try:
            for sub in ("blobs", "partial", "urls", "locks"):
                (self.cache / sub).mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise DownloadError(f"the cache folder {self.cache} is a file", "set MAMBAENV_CACHE_DIR to a folder") from None
        except OSError as e:
            if not (self.cache / "blobs").is_dir():
                raise DownloadError(f"cannot make the cache folder {self.cache} ({e.strerror})",
                                    "set MAMBAENV_CACHE_DIR to a writable folder") from None
            self.writable = False

    # -- cache ----------------------------------------------------------------------------------
    def cached(self, url: str, sha256: str | None = None) -> tuple[Path, str, str] | None:
        """(path, digest just computed, the URL that served it) for a cached file whose bytes still hash to their
        name; a blob changed in place is evicted (when the cache is writable) and counts as a miss."""
        index = self.cache / "urls" / f"{url_key(url)}.json"
        try:  # a damaged record (any shape, any depth) is a miss, never a traceback
            entry = jsonshape.loads(jsonshape.read_file(index, str(index), 1 << 20), str(index))
            entry = None if jsonshape.problem(entry, URL_RECORD_SHAPE) else entry
        except (OSError, ValueError):
            entry = None
        candidates = []
        if entry and not (sha256 and entry["sha256"] != sha256):
            try:
                candidates.append((self.cache / "blobs" / entry["sha256"] / safe_filename(entry["name"], "the cache index"), entry.get("served_by") or url))
            except BadInput:
                pass
        if sha256:
            try:
                candidates.append((self.cache / "blobs" / sha256 / filename_from_url(url), url))
            except BadInput:
                pass
        for path, served_by in candidates:
            if not path.is_file():
                continue
            digest = sha256_file(path)
            if digest == path.parent.name:
                return path, digest, served_by
            if self.writable:  # edited in place (or a hard link from an older mambaenv was): it no longer vouches for anything
                path.unlink(missing_ok=True)
                index.unlink(missing_ok=True)
        return None

    def _store(self, url: str, part: Path, name: str, digest: str, served_by: str) -> Path:
        d = self.cache / "blobs" / digest
        d.mkdir(parents=True, exist_ok=True)
        final = d / name
        os.replace(part, final)
        index = self.cache / "urls" / f"{url_key(url)}.json"
        write_bytes(index, json.dumps({"url": url, "sha256": digest, "name": name, "served_by": served_by}).encode())
        return final

    # -- public ---------------------------------------------------------------------------------
    def fetch(self, url: str, sha256: str | None = None, size: int | None = None, mirrors: list[str] | None = None,
              name: str | None = None, progress=None, verify=None, max_size: int | None = None) -> Fetched:
        """Fetch ``url`` (through ``mirrors`` first) into the cache and return the verified file. ``size``: what the file
        must weigh (the catalog's); ``max_size``: the most it can (a server offering more is refused before the body)."""
        sha256 = check_sha256(sha256)
        check_url(url)
        check_ca_bundle()
        name = safe_filename(name, url) if name else filename_from_url(url)
        try:
            lock = FileLock(str(self.cache / "locks" / f"{url_key(url)}.lock"))
            lock.acquire()
        except OSError as e:
            hit = self.cached(url, sha256)  # a read-only cache still serves what it holds
            if hit:
                return Fetched(hit[0], hit[1], hit[0].stat().st_size, hit[2], True, 0)
            raise DownloadError(f"the cache folder {self.cache} is not writable ({e.strerror or e})",
                                "set MAMBAENV_CACHE_DIR to a writable folder") from None
        try:
            hit = self.cached(url, sha256)
            if hit:
                return Fetched(hit[0], hit[1], hit[0].stat().st_size, hit[2], True, 0)
            errors: list[tuple[str, DownloadError]] = []
            for candidate in mirror_urls(url, mirrors or []):
                try:
                    return self._fetch_one(url, candidate, name, sha256, size, progress, verify, max_size)
                except TransferInterrupted:
                    raise  # resumable (disk full, kept failing): the same source resumes it, so say so now
                except DownloadError as e:
                    errors.append((urlparse(candidate).netloc or candidate, e))
            if not errors:
                raise DownloadError(f"no source for {name}: MAMBAENV_MIRROR_ONLY is set and no mirror is configured",
                                    "give a mirror with --mirror (or MAMBAENV_MIRROR), or unset MAMBAENV_MIRROR_ONLY")
            text = "; ".join(f"{host}: {e.message}" for host, e in errors)  # the host that served bad bytes is named
            last = errors[-1][1]
            fix = last.fix or ("check the network or proxy (HTTPS_PROXY), add a mirror with --mirror, or fetch the URL in a browser "
                               "and use mambaenv install --offline-wheel FILE")
            raise DownloadError(f"download of {name} failed ({text})", fix)
        finally:
            lock.release()

    # -- internals ------------------------------------------------------------------------------
    def _get(self, url: str, **kw) -> requests.Response:
        """A GET whose unfixable failures raise at once (classified); transient ones raise requests' own error."""
        try:
            r = self.session.get(url, stream=True, timeout=self.timeouts, **kw)
            # a body shorter than its Content-Length is delivered whole and judged here, instead of urllib3
            # raising and dropping the bytes it had read: every byte that arrived counts
            r.raw.enforce_content_length = False
            return r
        except (requests.RequestException, OSError) as e:
            fatal = classify(e)
            if fatal:
                raise fatal from None
            raise

    def _probe(self, url: str) -> tuple[str, int | None, bool, dict, requests.Response | None]:
        """Final URL after redirects, total size, whether Range works, validators, and, when the server ignored
        the Range header, its open answer: that is the whole file, read as the first attempt of the single stream."""
        err = "no answer"
        for attempt in range(self.retries):
            try:
                r = self._get(url, headers={"Range": "bytes=0-0"}, allow_redirects=True)
            except (requests.RequestException, OSError) as e:
                err = f"{type(e).__name__}: {_root_cause(e)}"
                time.sleep(_backoff(attempt))
                continue
            if r.status_code >= 500 or r.status_code in (408, 429):
                r.close()
                err = f"HTTP {r.status_code}"
                time.sleep(_backoff(attempt))
                continue
            if r.status_code not in (200, 206):
                r.close()
                gone = r.status_code in (404, 410)
                raise _Fatal(f"HTTP {r.status_code}" + (" (no such file there)" if gone else ""),
                              "check the URL, or that the mirror carries this release (mambaenv resolve prints the upstream URL)" if gone
                              else "check the URL and your access to that server (a proxy or login may stand in the way)")
            validators = {k: r.headers.get(k) for k in ("ETag", "Last-Modified")}
            if r.status_code == 206:
                r.close()
                cr = _CONTENT_RANGE.match(r.headers.get("Content-Range", "").strip())
                if cr and cr.group(1) == "0" and cr.group(3) != "*":
                    return r.url, int(cr.group(3)), True, validators, None
                return r.url, None, False, validators, None  # an unusable answer to a Range request: one stream
            length = r.headers.get("Content-Length")
            return r.url, int(length) if length and length.isdigit() else None, False, validators, r
        raise DownloadError(f"no answer after {self.retries} tries ({err})")

    def _fetch_one(self, key_url, url, name, sha256, size, progress, verify, max_size=None) -> Fetched:
        final_url, total, ranges, validators, whole = self._probe(url)
        try:
            if max_size and total and total > max_size and not size:
                raise DownloadError(f"the server offers {total} bytes, more than the {max_size} a {name.split('-', 1)[0]} wheel can weigh",
                                    "that source is not serving this file: use another mirror or the original URL")
            return self._fetch_probed(key_url, name, sha256, size, progress, verify, final_url, total, ranges, validators, whole,
                                      max_size)
        finally:
            if whole is not None:
                whole.close()

    def _fetch_probed(self, key_url, name, sha256, size, progress, verify, final_url, total, ranges, validators, whole,
                      max_size=None) -> Fetched:
        if size and total and size != total:
            raise DownloadError(f"server offers {total} bytes, the catalog says {size}")
        if not self.writable:
            raise DownloadError(f"the cache folder {self.cache} is not writable", "set MAMBAENV_CACHE_DIR to a writable folder")
        key = url_key(key_url)
        part = self.cache / "partial" / f"{key}.part"
        meta_path = self.cache / "partial" / f"{key}.json"
        meta = self._load_meta(meta_path, total, validators, ranges)
        if meta is not None and not self._resume_consistent(final_url, part, meta, validators):
            meta = None
        if meta is None:
            part.unlink(missing_ok=True)
            meta = self._new_meta(total, validators, ranges)
        already = sum(s[2] for s in meta["segments"])
        expected = size or total
        free = free_bytes(self.cache / "partial")
        if expected and expected - already > free - FREE_SPACE_MARGIN:
            raise TransferInterrupted(f"{name} needs {(expected - already) / 1e6:.1f} MB, {self.cache} has {max(free, 0) / 1e6:.1f} MB free",
                                      "free some space or set MAMBAENV_CACHE_DIR to a bigger disk, then run the same command again")
        prog = _Progress(progress, total)
        if already:
            prog.add(already, transferred=False)
        try:
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise _disk_error(e, self.cache) from None
        check = lambda digest=None: self._check(part, name, sha256, verify, digest)  # noqa: E731
        hashed = None  # the digest taken while the segments arrived
        try:
            if total and os.fstat(fd).st_size != total:
                os.ftruncate(fd, total)
            fallback = None
            if ranges and total:
                fallback, hashed = self._run_segments(final_url, fd, meta, meta_path, prog)
            if fallback or not (ranges and total):
                self._discard_meta(meta_path)
                prog.add(-prog.done, transferred=False)
                room = max(free - FREE_SPACE_MARGIN, 0)
                self._single_stream(final_url, fd, prog, limit=expected or min(room, max_size or room), accept=check,
                                    first=None if fallback else whole)
            # no fsync: a blob torn by a power cut fails the re-hash on its next hit and is fetched again
        except DownloadError as e:
            if not e.resumable:
                self._discard(part, meta_path)
            raise
        except OSError as e:
            if e.errno in DISK_ERRNOS:
                raise _disk_error(e, self.cache) from None
            raise
        finally:
            os.close(fd)
        try:
            digest = check(hashed)
        except DownloadError:
            self._discard(part, meta_path)
            raise
        meta_path.unlink(missing_ok=True)
        path = self._store(key_url, part, name, digest, final_url)
        return Fetched(path, digest, path.stat().st_size, final_url, False, prog.transferred)

    def _new_meta(self, total, validators, ranges) -> dict:
        if ranges and total:
            n = max(1, min(self.segments, total // MIN_SPLIT or 1))
            step = -(-total // n)
            segs = [[i * step, min(total, (i + 1) * step) - 1, 0] for i in range(n)]
        else:
            segs = [[0, (total or 0) - 1, 0]]
        return {"total": total, "validators": validators, "ranges": ranges, "segments": segs}

    def _load_meta(self, path: Path, total, validators, ranges) -> dict | None:
        """Resume only when the server still describes the same file (size and ETag/Last-Modified)."""
        try:
            meta = jsonshape.loads(jsonshape.read_file(path, str(path), 1 << 20), str(path))
            segs = meta["segments"]
            ok = isinstance(meta.get("validators"), dict) and all(
                isinstance(s, list) and len(s) == 3 and all(isinstance(x, int) for x in s) and 0 <= s[0] and s[0] + s[2] <= s[1] + 1
                and s[1] < (total or 0) for s in segs)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not ok:
            return None
        same = meta.get("total") == total and all(meta["validators"].get(k) == v for k, v in validators.items() if v)
        if not same or not ranges or not meta.get("ranges"):
            return None
        return meta

    def _resume_consistent(self, url: str, part: Path, meta: dict, validators: dict) -> bool:
        """Without a validator in common with the last run (no ETag nor Last-Modified), the server may have
        changed the file at the same size: compare the last 4 KiB saved of a few segments with what it sends now."""
        old = meta.get("validators") or {}
        if any(v and old.get(k) == v for k, v in validators.items()):
            return True
        samples = [s for s in meta["segments"] if s[2] >= 4096][:4]
        if not samples:
            return True
        try:
            with open(part, "rb") as f:
                for s in samples:
                    end = s[0] + s[2] - 1
                    start = end - 4095
                    f.seek(start)
                    have = f.read(4096)
                    with self._get(url, headers={"Range": f"bytes={start}-{end}"}) as r:
                        if r.status_code != 206 or r.content != have:
                            return False
        except (OSError, requests.RequestException, DownloadError):
            return False
        return True

    def _save_meta(self, path: Path, meta: dict, lock: threading.Lock) -> None:
        with lock:
            text = json.dumps(meta)
        try:
            write_bytes(path, text.encode())
        except OSError:
            pass  # progress not saved costs a re-download of that much, never a wrong file

    def _run_segments(self, url, fd, meta, meta_path, prog) -> tuple[str | None, str | None]:
        """Fetch the segments; returns (why Range cannot be used (then the caller streams), None) or, when done,
        (None, the file's sha256)."""
        st = _Segments(meta, prog)
        hasher = _PrefixHash(fd, st, meta["total"])
        threads: list[threading.Thread] = []

        def spawn(seg):
            with st.lock:
                st.busy += 1  # counted before the thread runs, so that a refused worker always sees the others
            t = threading.Thread(target=self._segment_worker, args=(url, fd, seg, st), daemon=True)
            t.start()
            threads.append(t)

        for seg in meta["segments"]:
            if seg[0] + seg[2] <= seg[1]:
                spawn(seg)
        hasher.start()
        t0 = last_save = time.monotonic()
        base = prog.transferred
        grown_at, rate_before, target_before, bytes_at_grow, saturated = None, 0.0, 0, 0, not self.adaptive
        target = self.segments
        try:
            while True:
                live = [t for t in threads if t.is_alive()]
                if not live and st.orphans and not st.stop.is_set():
                    with st.lock:
                        piece = st.orphans.pop()
                    spawn(piece)
                    continue
                if not live or st.stop.is_set():
                    break
                live[0].join(TICK_S)
                now = time.monotonic()
                if now - last_save >= SAVE_EVERY_S:
                    self._save_meta(meta_path, meta, st.lock)
                    last_save = now
                # choose the connection count from the measured rate: grow while an added connection adds throughput
                elapsed = now - t0
                if not saturated and elapsed >= RAMP_AFTER_S:
                    rate = (prog.transferred - base) / elapsed
                    if grown_at is None:
                        n_live = len([t for t in threads if t.is_alive()])
                        per_conn = rate / max(n_live, 1)
                        left = st.remaining()
                        want = min(MAX_CONNECTIONS, math.ceil(left / max(per_conn * 0.5, 1)))
                        if want > target:
                            grown_at, rate_before, target_before, bytes_at_grow = now, rate, target, prog.transferred
                            target = want
                        else:
                            target, saturated = max(want, 1), True
                    elif now - grown_at >= RAMP_AFTER_S:
                        window = (prog.transferred - bytes_at_grow) / (now - grown_at)
                        saturated = True  # one step up, measured once: enough to follow a per-connection cap
                        if window < rate_before * 1.1:
                            target = target_before
                # keep ``target`` connections busy (no more than the server takes): a free slot first takes a segment
                # handed back, else half of the largest remaining piece
                st.widen_cap(now)
                while len([t for t in threads if t.is_alive()]) < min(target, st.cap or target):
                    with st.lock:
                        piece = st.orphans.pop() if st.orphans else None
                    piece = piece or self._split_largest(st)
                    if piece is None:
                        break
                    spawn(piece)
        except BaseException:
            st.stop.set()  # Ctrl-C: let the workers finish their current write, then save, so a rerun resumes from here
            hasher.stop()
            until = time.monotonic() + 2  # two seconds for all of them: a stalled server must not make a Ctrl-C wait per connection
            for t in threads:
                t.join(max(0.0, until - time.monotonic()))
            self._save_meta(meta_path, meta, st.lock)
            raise
        for t in threads:
            t.join()
        self._save_meta(meta_path, meta, st.lock)
        if st.unusable or st.error or st.remaining():
            hasher.stop()
        if st.unusable:
            return st.unusable, None
        if st.error:
            raise st.error
        if st.remaining():
            raise TransferInterrupted("the transfer stopped early; run the same command again to resume")
        return None, hasher.digest()

    @staticmethod
    def _split_largest(st: _Segments):
        with st.lock:
            best = max(st.meta["segments"], key=lambda s: s[1] - (s[0] + s[2]), default=None)
            if best is None:
                return None
            pos, end = best[0] + best[2], best[1]
            if end - pos + 1 < MIN_SPLIT:
                return None
            mid = pos + (end - pos + 1) // 2  # >= pos + 1 MiB: a write in flight (<= CHUNK) never crosses it
            best[1] = mid - 1
            new = [mid, end, 0]
            st.meta["segments"].append(new)
            return new

    def _segment_worker(self, url, fd, seg, st: _Segments) -> None:
        try:
            self._fetch_segment(url, fd, seg, st)
        finally:
            with st.lock:
                st.busy -= 1

    def _fetch_segment(self, url, fd, seg, st: _Segments) -> None:
        attempt, last = 0, "no answer"
        while not st.stop.is_set():
            with st.lock:
                start, end = seg[0] + seg[2], seg[1]
            if start > end:
                return
            try:
                with self._get(url, headers={"Range": f"bytes={start}-{end}"}) as r:
                    if r.status_code in (429, 503) and st.hand_back(seg):
                        return
                    if r.status_code >= 500 or r.status_code in (408, 429):
                        raise requests.HTTPError(f"HTTP {r.status_code}")
                    if r.status_code == 200:
                        return st.give_up_ranges("the server ignored a Range request")
                    if r.status_code != 206:
                        return st.fail(DownloadError(f"HTTP {r.status_code} for a Range request"))
                    cr = _CONTENT_RANGE.match(r.headers.get("Content-Range", "").strip())
                    if not cr or int(cr.group(1)) != start or (cr.group(3) != "*" and int(cr.group(3)) != st.meta["total"]):
                        return st.give_up_ranges(f"the server answered bytes={start}- with Content-Range {r.headers.get('Content-Range')!r}")
                    for chunk in r.iter_content(CHUNK):
                        if st.stop.is_set():
                            return
                        with st.lock:
                            pos = seg[0] + seg[2]
                            room = seg[1] - pos + 1
                        if room <= 0:
                            break
                        piece = chunk[:room]
                        try:
                            pwrite_all(fd, piece, pos)
                        except OSError as e:
                            return st.fail(_disk_error(e, self.cache) if e.errno in DISK_ERRNOS
                                           else TransferInterrupted(f"write failed: {e.strerror}"))
                        with st.lock:
                            seg[2] += len(piece)
                        st.prog.add(len(piece))
                        attempt = 0
                        if len(piece) >= room:
                            break
            except DownloadError as e:
                return st.fail(e)
            except (requests.RequestException, ConnectionError, OSError) as e:
                last = str(e) if isinstance(e, requests.HTTPError) else f"{type(e).__name__}: {_root_cause(e)}"
            with st.lock:
                unfinished = seg[0] + seg[2] <= seg[1]
            if unfinished and not st.stop.is_set():  # short body, reset or 5xx: back off and resume the segment
                attempt += 1
                if attempt > self.retries:
                    return st.fail(TransferInterrupted(
                        f"transfer kept failing after {self.retries} retries (last: {last})",
                        "run the same command again to resume; a server that keeps answering 503/429 is overloaded or limits "
                        "you: try later, or add a --mirror"))
                st.stop.wait(_backoff(attempt))

    def _single_stream(self, url, fd, prog, limit: int, accept, first: requests.Response | None = None) -> None:
        """A server without (usable) Range: one stream, restarted from zero on failure. A body shorter than its
        Content-Length is kept when ``accept()`` passes (the sha256 or the wheel's own check), not fetched again."""
        err = "no answer"
        for attempt in range(self.retries + 1):
            written = 0
            try:
                with (first if attempt == 0 and first is not None else self._get(url)) as r:
                    if r.status_code >= 500 or r.status_code in (408, 429):
                        raise requests.HTTPError(f"HTTP {r.status_code}")
                    if r.status_code != 200:
                        raise DownloadError(f"HTTP {r.status_code}")
                    expected = r.headers.get("Content-Length")
                    if limit and expected and expected.isdigit() and int(expected) > limit:
                        raise DownloadError(f"the server offers {int(expected)} bytes, more than the {limit} expected (or free)")
                    first = True
                    for chunk in r.iter_content(CHUNK):
                        if first and _looks_like_html(chunk, r.headers.get("Content-Type", "")):
                            raise DownloadError("the server sent an HTML page, not the file (a login, proxy or error page?)")
                        first = False
                        if limit and written + len(chunk) > limit:
                            raise DownloadError(f"the server sent more than the {limit} bytes expected (or free); stopped")
                        pwrite_all(fd, chunk, written)
                        written += len(chunk)
                        prog.add(len(chunk))
                    os.ftruncate(fd, written)
                    if expected and expected.isdigit() and int(expected) != written:
                        raise requests.exceptions.ChunkedEncodingError("short body")
                    return
            except DownloadError:
                raise
            except requests.RequestException as e:
                err = type(e).__name__
            except OSError as e:
                if e.errno in DISK_ERRNOS:
                    raise
                err = type(e).__name__
            if written:
                os.ftruncate(fd, written)
                try:
                    accept()
                    return  # the bytes are whole by the checks that matter; a lying Content-Length costs no second copy
                except DownloadError:
                    pass
            prog.add(-written, transferred=False)
            time.sleep(_backoff(attempt))
        raise DownloadError(f"transfer kept failing after {self.retries} retries ({err})")

    def _discard_meta(self, meta_path: Path) -> None:
        meta_path.unlink(missing_ok=True)

    def _discard(self, part: Path, meta_path: Path) -> None:
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)

    def _check(self, part: Path, name: str, sha256: str | None, verify, digest: str | None = None) -> str:
        """The digest of ``part`` (``digest``: already taken from its bytes as they arrived); raises when it is HTML,
        the wrong digest, or fails ``verify``. Deletes nothing."""
        with open(part, "rb") as f:
            first = f.read(512)
        if _looks_like_html(first, ""):
            raise DownloadError("the server sent an HTML page, not the file (a login, proxy or error page?)")
        digest = digest or sha256_file(part)
        if sha256 and digest != sha256:
            raise DownloadError(f"sha256 mismatch: got {digest[:16]}..., expected {sha256[:16]}...",
                                "that source served other bytes than the release lists (a stale or altered copy): use another mirror "
                                "or the original URL, and tell the mirror's owner")
        if verify:
            try:
                verify(part, name)
            except MambaenvError as e:
                raise DownloadError(e.message.replace(part.name, name), "that source served a broken file: try again, or another mirror") from None
        return digest
