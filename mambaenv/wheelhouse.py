"""Read wheelhouses (a local folder, file:// or an http(s) PEP 503/691 index) and pick the wheel that fits an env.

Which wheelhouses are asked, and in what order, is config.wheelhouses (flags, MAMBAENV_WHEELHOUSE, config file).

For one wheelhouse and one project, the file list comes from:
- http(s): ``<url>/<project>/`` asked for PEP 691 JSON first (``Accept``), PEP 503 HTML otherwise; on a 404 a
  URL not ending in ``simple`` is tried again as ``<url>/simple/<project>/`` (the folder ``mambaenv publish`` wrote);
- a folder or file://: ``simple/<project>/index.html`` when the folder was written by ``mambaenv publish``
  (or is itself a ``simple`` folder), else the ``*.whl`` files in it and in its ``packages/``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from packaging.version import InvalidVersion, Version

from mambaenv.catalog import WheelAsset
from mambaenv.errors import WheelhouseError
from mambaenv.facts import TargetEnv
from mambaenv.upstream import PACKAGES
from mambaenv.wheelname import parse_wheel_filename

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

    @property
    def local_path(self) -> Path | None:
        return Path(unquote(urlparse(self.url).path)) if self.url.startswith("file:") else None


@dataclass
class Skipped:
    filename: str
    wheelhouse: str
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.filename, "wheelhouse": self.wheelhouse, "reason": self.reason}


@dataclass
class Pick:
    """The answer for one package: the fitting wheel (or None) and every listed wheel that was passed over, with why."""

    package: str
    candidate: Candidate | None
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # wheelhouses that could not be read


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
            return parse_simple_json(r.json(), r.url, wheelhouse)
        return parse_simple_html(r.text, r.url, wheelhouse)
    return []  # the index does not know the project: nothing published for it yet


def _list_folder(root: Path, project: str, wheelhouse: str) -> list[Candidate]:
    if not root.is_dir():
        raise WheelhouseError(f"wheelhouse {wheelhouse} is not a folder", "give a folder written by mambaenv publish, a folder of wheels, or an index URL")
    for simple in (root / "simple", root):
        page = simple / project / "index.html"
        if page.is_file():
            return parse_simple_html(page.read_text(errors="replace"), page.as_uri(), wheelhouse)
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


# --- getting a file from a folder wheelhouse ----------------------------------------------------------

def place_local_file(url: str, dest, sha256: str | None, name: str):
    """A file:// wheel: copied to dest/<name> while hashed (never a hard link), then checked like a download."""
    # start-up: resolve loads this module; hashing (hashlib, OpenSSL), the downloader (requests) and wheel load only to take a wheel
    from mambaenv.digest import sha256_file
    from mambaenv.fetch import Fetched, copy_hashed
    from mambaenv.wheel import verify_wheel_file

    src = Path(unquote(urlparse(url).path))
    if not src.is_file():
        raise WheelhouseError(f"wheelhouse file {src} is missing", "publish it again (mambaenv publish), or fix the wheelhouse path")
    target = src
    if dest is not None and (Path(dest) / name).resolve() != src.resolve():
        Path(dest).mkdir(parents=True, exist_ok=True)
        target = Path(dest) / name
        tmp = Path(dest) / f".{name}.mambaenv-tmp"
        try:
            digest = copy_hashed(src, tmp)  # the digest reported is of the bytes placed
            if sha256 and digest != sha256.lower():
                raise WheelhouseError(f"{src} does not match the sha256 its index lists ({digest[:12]}… vs {sha256[:12]}…)",
                                      "the wheelhouse file was changed after publishing; publish a good copy under a new version")
            verify_wheel_file(tmp, name)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        digest = sha256_file(src)
        if sha256 and digest != sha256.lower():
            raise WheelhouseError(f"{src} does not match the sha256 its index lists ({digest[:12]}… vs {sha256[:12]}…)",
                                  "the wheelhouse file was changed after publishing; publish a good copy under a new version")
        verify_wheel_file(src, name)
    return Fetched(target, digest, target.stat().st_size, url, False, 0), target


# --- the decision ---------------------------------------------------------------------------------

_BUILT_FOR = re.compile(r"^cu\d+torch\d+\.\d+cxx11abi(TRUE|FALSE)$")


def arch_problem(wheel_archs, gpu_caps) -> str | None:
    """Kernels are SASS only (no PTX): a build for X.Y runs on a GPU X.Z with Z >= Y, never on another major."""
    if not wheel_archs or not gpu_caps:
        return None
    for cap in gpu_caps:
        major, minor = (int(x) for x in cap.split("."))
        if not any(int(a.split(".")[0]) == major and int(a.split(".")[1]) <= minor for a in wheel_archs):
            built = ", ".join(f"sm_{a.replace('.', '')}" for a in wheel_archs)
            return f"wheel's kernels are built for {built}, which do not run on this GPU (sm_{cap.replace('.', '')})"
    return None


def fit_problems(filename: str, env: TargetEnv, path: Path | None = None, host_glibc: str | None = None,
                 gpu_archs=None, gpu_caps=None) -> list[str]:
    """Why this wheel does not fit the env; empty when it does.

    The one place the wheelhouse asks "does this wheel fit": wheel.mismatches on the file name (or the
    file, when it is here, for its libraries' GLIBC needs), then the GPU architectures publish recorded.
    """
    from mambaenv.wheel import WheelInfo, inspect_wheel, mismatches  # start-up: resolve loads this module; wheel only with a wheelhouse

    name = parse_wheel_filename(filename)
    if name is not None and name.package in PACKAGES and name.local is None:
        return [f"{filename} has no +cu..torch..cxx11abi.. local version, so what it was built for is unknown"]
    info = inspect_wheel(path) if path is not None else WheelInfo(Path(filename), name, "", "")
    problems = mismatches(info, env, host_glibc)
    arch = arch_problem(gpu_archs, gpu_caps)
    return problems + [arch] if arch else problems


def _version_key(c: Candidate):
    name = parse_wheel_filename(c.filename)
    try:
        return Version(name.version) if name else Version("0")
    except InvalidVersion:
        return Version("0")


def pick(wheelhouses: list[str], package: str, env: TargetEnv, version: str | None = None, gpu_caps=None) -> Pick:
    """The newest fitting wheel of ``package`` in the first wheelhouse that has one; the rest, with reasons."""
    result = Pick(package, None)
    for wh in wheelhouses:
        try:
            listed = list_wheels(wh, package)
        except WheelhouseError as e:
            result.errors.append(e.message)
            continue
        fits = []
        for c in listed:
            problems = fit_problems(c.filename, env, gpu_archs=c.gpu_archs, gpu_caps=gpu_caps)
            if not problems and version and parse_wheel_filename(c.filename) and \
                    Version(parse_wheel_filename(c.filename).version) != Version(version.lstrip("v")):
                problems = [f"not the asked version {version}"]
            if problems:
                result.skipped.append(Skipped(c.filename, wh, problems[0]))
            else:
                fits.append(c)
        if fits:
            fits.sort(key=_version_key, reverse=True)
            result.candidate = fits[0]
            return result
    return result


# --- the answer, in the resolver's shape ------------------------------------------------------------

class SourcedChoice:
    """A resolver Choice, answered from a wheelhouse when one had a fitting wheel; ``to_dict`` says where it came from.

    It wraps rather than copies the Choice so the catalog's own fields (release, alternatives) stay as resolve made them.
    """

    def __init__(self, choice, pick_: Pick, wheel=None, reason: str | None = None):
        self._choice = choice
        self.pick = pick_
        self.wheel = wheel if wheel is not None else choice.wheel
        self.reason = reason or choice.reason
        self.alternatives = [] if wheel is not None else choice.alternatives

    def __getattr__(self, name):
        return getattr(self._choice, name)

    @property
    def wheelhouse(self) -> str | None:
        return self.pick.candidate.wheelhouse if self.pick.candidate else None

    def to_dict(self) -> dict:
        d = self._choice.to_dict()
        if self.pick.candidate is not None:
            w = self.wheel
            d.update(version=w.version, tag=w.tag, file=w.filename, url=w.url, size=w.size, sha256=w.sha256, source="wheelhouse",
                     reason=self.reason, alternatives=[])
        d["wheelhouse"] = self.wheelhouse
        d["wheelhouse_skipped"] = [s.to_dict() for s in self.pick.skipped]
        d["wheelhouse_errors"] = list(self.pick.errors)
        return d


def as_asset(c: Candidate):
    n = parse_wheel_filename(c.filename)
    return WheelAsset(n.package, "wheelhouse", n.version, n.python_version, n.local, n.machine or "", c.filename, c.url,
                      None, c.sha256, source="wheelhouse")


def prefer_wheelhouses(choices: list, env: TargetEnv, wheelhouses: list[str], version: str | None = None,
                       gpu_caps=None) -> list[SourcedChoice]:
    """Each package from the first wheelhouse with a fitting wheel, else the catalog's choice; skipped files keep their reasons.

    ``gpu_caps`` (["9.0"]): the GPUs the wheel must run on, when the env is on this machine; None for another machine.
    """
    out = []
    for c in choices:
        p = pick(wheelhouses, c.package, env, version, gpu_caps) if wheelhouses else Pick(c.package, None)
        if p.candidate is None:
            out.append(SourcedChoice(c, p))
            continue
        why = f"{p.candidate.filename} in wheelhouse {p.candidate.wheelhouse} fits this environment (wheelhouses come before the release catalog)"
        out.append(SourcedChoice(c, p, as_asset(p.candidate), why))
    return out
