"""pip's and uv's install errors -> one true line: what is missing, where it could come from.

Quoted from real runs (pip 23, uv 0.13) of an offline install of a mamba_ssm wheel whose dependencies
are not in the wheel folder:

    ERROR: Could not find a version that satisfies the requirement tilelang==0.1.8 (from mamba-ssm) (from versions: none)
    ERROR: No matching distribution found for tilelang==0.1.8

    error: No solution found when resolving dependencies
      cause: Because tilelang was not found in the provided package locations and mamba-ssm==2.3.2.post1 depends
             on tilelang==0.1.8, we can conclude that mamba-ssm==2.3.2.post1 cannot be used.
             And because only mamba-ssm==2.3.2.post1 is available and you require mamba-ssm, we can conclude ...

Both stop at the first missing name; the wheels' own Requires-Dist, checked against the env and the
wheel folders, names all of them.
"""
from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mambaenv.detect.pyenv import PYENV_SHIM
from mambaenv.explain import explain
from mambaenv.wheel import BadWheel, inspect_wheel

MISSING_IN_TEXT = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)"),
    re.compile(r"Because ([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])? was not found in the (?:provided package locations|package registry)"),
    re.compile(r"there is no version of ([A-Za-z0-9_.\-]+)"),
    re.compile(r"Because ([A-Za-z0-9_.\-]+) was not found in the cache"),
)
# A package index that could not be reached, in the installers' own words (uv 0.13 and pip 23 against a closed port on
# 127.0.0.1; on the offline H200, uv's chain named https://pypi.org/simple/apache-tvm-ffi/ and ended in "dns error"):
#   error: Request failed after 3 retries in 5.8s
#     cause: Failed to fetch: http://127.0.0.1:9/simple/einops/
#     cause: error sending request for url (http://127.0.0.1:9/simple/einops/)
#     cause: client error (Connect)
#     cause: tcp connect error
#     cause: Connection refused (os error 111)
#   WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by
#   'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f1d816349d0>: Failed to establish
#   a new connection: [Errno 111] Connection refused')': /simple/einops/
# (pip with --retries 0 logs the failure at debug level only: its output then reads like a package the index lacks.)
UV_FETCH_FAILED = re.compile(r"Failed to fetch: `?([^`\s]+)`?")
UV_CAUSE = re.compile(r"^\s*(?:cause:|Caused by:|╰─▶)\s*(.+)$", re.M)
PIP_CONNECTION_BROKEN = re.compile(r"after connection broken by '(\w+)\((.*)\)': (/\S*)")
PIP_COULD_NOT_FETCH = re.compile(r"Could not fetch URL (\S+?): (.+?)(?: - skipping)?$", re.M)
PIP_INDEXES = re.compile(r"^Looking in indexes: (.+)$", re.M)
ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"\]]+)")
NO_INTERPRETER = re.compile(r"No interpreter found for (Python [^\s]+)")
PYTHON_DOWNLOAD = re.compile(r"python-build-standalone|Failed to download .*cpython-")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def uv_error(text: str) -> str | None:
    """uv's ``error:`` with its ``cause:`` lines and their wrapped continuations, as one line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error: "):
            parts = [line[len("error: "):]]
            for more in lines[i + 1:]:
                if not more.startswith((" ", "\t")) and more.strip():
                    break
                parts.append(more.strip().removeprefix("cause: ").removeprefix("╰─▶ "))
            return _one_line(" ".join(p for p in parts if p))
    return None


def available(find_links: list[Path], installed: list[str]) -> dict[str, set[Version | None]]:
    """Name -> versions the resolver could use: the env's (``name==version`` lines) and the folders' files."""
    out: dict[str, set] = {}
    for line in installed:
        name, _, ver = line.partition("==")
        out.setdefault(canonicalize_name(name.split(" @ ")[0].strip()), set()).add(_version(ver.strip()))
    for folder in find_links:
        for f in Path(folder).glob("*"):
            try:
                if f.name.endswith(".whl"):
                    name, ver, _, _ = parse_wheel_filename(f.name)
                elif f.name.endswith((".tar.gz", ".zip")):
                    name, ver = parse_sdist_filename(f.name)
                else:
                    continue
            except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
                continue
            out.setdefault(canonicalize_name(name), set()).add(ver)
    return out


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def requirements_of(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist that apply here without extras."""
    try:
        requires = inspect_wheel(wheel, read_elf=False, check_crc=False).requires
    except BadWheel:
        return []
    reqs = []
    for line in requires:
        try:
            r = Requirement(line)
        except InvalidRequirement:
            continue
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            reqs.append(r)
    return reqs


def missing_by_wheel(wheels: list[Path], find_links: list[Path], installed: list[str]) -> dict[Path, list[str]]:
    """Each wheel -> its requirements that neither the env, the folders nor the other wheels satisfy."""
    have = available(find_links, installed)
    for w in wheels:
        try:
            name, ver, _, _ = parse_wheel_filename(Path(w).name)
            have.setdefault(canonicalize_name(name), set()).add(ver)
        except (InvalidWheelFilename, InvalidVersion):
            pass
    out = {}
    for w in wheels:
        for r in requirements_of(Path(w)):
            versions = have.get(canonicalize_name(r.name), set())
            if not any(v is None or r.specifier.contains(v, prereleases=True) for v in versions):
                out.setdefault(Path(w), []).append(str(r))
    return out


def missing_requirements(wheels: list[Path], find_links: list[Path], installed: list[str]) -> list[str]:
    return list(dict.fromkeys(r for reqs in missing_by_wheel(wheels, find_links, installed).values() for r in reqs))


def _label(wheel: Path) -> str:
    """``mamba_ssm-2.2.4+cu12torch2.13...whl`` -> ``mamba_ssm 2.2.4``."""
    name, version = Path(wheel).name.split("-")[:2]
    return f"{name} {version.split('+')[0]}"


def _short(why: str) -> str:
    return re.sub(r"\s*\(os error \d+\)", "", why).strip().rstrip(".")[:160]


def _index_of(url: str) -> str:
    """``http://host/simple/einops/`` -> ``http://host/simple/``: the index, not the project page."""
    head, sep, _ = url.partition("/simple/")
    return head + sep if sep else url


def unreachable_index(output: str) -> tuple[str, str, str | None] | None:
    """(index, why, the project it was asked for) when the installer could not reach a package index, else None."""
    m = UV_FETCH_FAILED.search(output)
    if m:
        causes = UV_CAUSE.findall(output[m.end():])
        return _index_of(m.group(1)), _short(causes[-1] if causes else "no answer"), _project(m.group(1))
    m = PIP_CONNECTION_BROKEN.search(output)
    if m:
        errno = ERRNO_TEXT.search(m.group(2))
        return _pip_index(output, m.group(3)), _short(errno.group(1) if errno else m.group(1)), _project(m.group(3))
    m = PIP_COULD_NOT_FETCH.search(output)
    if m:
        return _index_of(m.group(1)), _short(m.group(2)), _project(m.group(1))
    return None


def _project(url: str) -> str | None:
    _, sep, rest = url.partition("/simple/")
    if not sep:
        return None
    return rest.strip("/").split("/")[0] or None


def _pip_index(output: str, path: str) -> str:
    """pip's retry warning names only the path: the index is the one of "Looking in indexes" that serves it."""
    m = PIP_INDEXES.search(output)
    urls = [u.strip() for u in m.group(1).split(",")] if m else []
    web = [u for u in urls if u.startswith(("http://", "https://"))]
    for u in web:
        if path.startswith("/" + u.split("://", 1)[1].partition("/")[2]):
            return u
    return web[0] if web else path


def _unreachable(index: str, why: str, named: list[str], wheels: list[Path], find_links: list[Path],
                 installed: list[str]) -> tuple[str, str]:
    """What the wheels need that the env lacks, that no index answers, and the three ways on without one."""
    by_wheel = missing_by_wheel(wheels, find_links, installed)
    needs = list(dict.fromkeys(r for reqs in by_wheel.values() for r in reqs)) or named
    where = f"no package index can be reached ({index}: {why})"
    if not needs:
        return (f"the install asked a package index and {where}",
                "add --no-deps when the env already has what the wheels need, or --find-links DIR with the wheels it lacks")
    owners = " and ".join(_label(w) for w in by_wheel) or "the install"
    what = f"{owners} need{'s' if len(by_wheel) <= 1 else ''} {', '.join(needs)}, which this env lacks, and {where}"
    pins = " ".join(f"'{n}'" for n in needs)
    fix = (f"bring their wheels: on a connected machine pip download -d deps {pins}, copy deps here and add --find-links deps "
           "(or make a bundle there: mambaenv bundle)")
    return what, fix + ("; or add --no-deps if the env already has them" if wheels else "")


def read_install_error(output: str, wheels: list[Path] = (), find_links: list[Path] = (), installed: list[str] = (),
                       offline: bool = False) -> tuple[str, str]:
    """(what went wrong, what to do) from an installer's output, in one line each."""
    named = []
    for pattern in MISSING_IN_TEXT:
        named += [m for m in pattern.findall(output) if m not in named]
    unreachable = None if offline else unreachable_index(output)
    if unreachable:
        index, why, project = unreachable
        return _unreachable(index, why, named or ([project] if project else []), list(wheels), list(find_links), list(installed))
    if named:
        computed = missing_requirements(list(wheels), list(find_links), list(installed))
        names = computed + [n for n in named if all(canonicalize_name(n) != canonicalize_name(Requirement(c).name) for c in computed)]
        where = "the env or the wheel folders (--find-links), and there is no index" if offline else "the env, the wheel folders or the index"
        owners = ", ".join(_label(w) for w in wheels)
        what = f"{owners + ' needs' if owners else 'missing:'} {', '.join(names)}, which {'is' if len(names) == 1 else 'are'} not in {where}"
        pins = " ".join(f"'{n}'" for n in names)
        fix = (f"download them on a connected machine (pip download -d deps {pins}) and add --find-links deps, or use a "
               "bundle (mambaenv bundle), or add --no-deps when the env already has what the packages need")
        return what, fix
    shim = PYENV_SHIM.search(output)
    if shim:
        exe, version = shim.groups()
        real = Path.home() / ".pyenv" / "versions" / version / "bin" / exe
        return (f"{exe} is a pyenv shim for Python {version}, which is not active in this shell",
                f"activate it (pyenv shell {version}) and run again, or make the env with {real} -m venv ENV and "
                "install into it with --python ENV/bin/python")
    m = NO_INTERPRETER.search(output)
    if m or PYTHON_DOWNLOAD.search(output):
        which = m.group(1) if m else "the requested Python"
        return (f"{which} is not installed here" + (" and uv could not download it" if PYTHON_DOWNLOAD.search(output) else ""),
                "install that Python (pyenv install, apt, conda) or pick an installed one with --python-version")
    line = uv_error(output) or _last_error_line(output)

    d = explain(output)
    if d and d.confidence >= 0.6:
        return f"{line} ({d.summary})", d.fix
    return line, "that is the installer's own error line; its whole output piped into mambaenv explain says more"


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.match(r"(ERROR|error)\b", ln)]
    return ((errs or lines or ["no output"])[-1])[:300]
