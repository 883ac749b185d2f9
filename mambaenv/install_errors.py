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
import zipfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mambaenv.detect.pyenv import PYENV_SHIM
from mambaenv.explain import explain

MISSING_IN_TEXT = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)"),
    re.compile(r"Because ([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])? was not found in the (?:provided package locations|package registry)"),
    re.compile(r"there is no version of ([A-Za-z0-9_.\-]+)"),
    re.compile(r"Because ([A-Za-z0-9_.\-]+) was not found in the cache"),
)
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
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            text = zf.read(meta).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile, StopIteration):
        return []
    reqs = []
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        try:
            r = Requirement(line.strip())
        except InvalidRequirement:
            continue
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            reqs.append(r)
    return reqs


def missing_requirements(wheels: list[Path], find_links: list[Path], installed: list[str]) -> list[str]:
    have = available(find_links, installed)
    for w in wheels:
        try:
            name, ver, _, _ = parse_wheel_filename(Path(w).name)
            have.setdefault(canonicalize_name(name), set()).add(ver)
        except (InvalidWheelFilename, InvalidVersion):
            pass
    missing = []
    for w in wheels:
        for r in requirements_of(Path(w)):
            versions = have.get(canonicalize_name(r.name), set())
            if not any(v is None or r.specifier.contains(v, prereleases=True) for v in versions):
                if str(r) not in missing:
                    missing.append(str(r))
    return missing


def read_install_error(output: str, wheels: list[Path] = (), find_links: list[Path] = (), installed: list[str] = (),
                       offline: bool = False) -> tuple[str, str]:
    """(what went wrong, what to do) from an installer's output, in one line each."""
    named = []
    for pattern in MISSING_IN_TEXT:
        named += [m for m in pattern.findall(output) if m not in named]
    if named:
        computed = missing_requirements(list(wheels), list(find_links), list(installed))
        names = computed + [n for n in named if all(canonicalize_name(n) != canonicalize_name(Requirement(c).name) for c in computed)]
        where = "the env or the wheel folders (--find-links), and there is no index" if offline else "the env, the wheel folders or the index"
        owners = ", ".join(Path(w).name.split("-")[0] + " " + Path(w).name.split("-")[1].split("+")[0] for w in wheels)
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
