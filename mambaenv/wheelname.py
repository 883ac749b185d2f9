"""Wheel file names, read and written in one place; nothing here touches the network or disk.

The standard part, ``{name}-{version}-{python}-{abi}-{platform}.whl``, is packaging's
(``packaging.utils.parse_wheel_filename``). What a mamba wheel was built against lives in its local version, spelt
one way per builder; each spelling is a scheme below with one reader and one writer:

- ``upstream``: ``+cu12torch2.6cxx11abiTRUE`` (upstream's release workflows and ``mambaenv build``). The CUDA is
  major+minor (``cu118``, ``cu122``) in older releases, the major alone (``cu12``, ``cu13``) since 2024; in place of
  torch, the NGC PyTorch container's ``YY.MM`` (``torch25.09``) for wheels built inside one.
- ``astral``: ``+cu.12.8.torch.2.11`` (Astral's per-CUDA indexes): no ABI in the name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from packaging.version import Version

from mambaenv.errors import BadInput
from mambaenv.upstream import MACHINES

_UPSTREAM = re.compile(r"^cu(?P<cuda>\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)$", re.I)
_ASTRAL = re.compile(r"^cu\.(?P<cuda>\d+\.\d+)\.torch\.(?P<torch>\d+\.\d+)$", re.I)
_CPYTHON = re.compile(r"^cp(\d)(\d+)$")


@dataclass(frozen=True)
class LocalTag:
    """The local version of a wheel: what it was built against."""

    cuda: str  # as written: "118", "12" (upstream), "12.8" (astral)
    torch: str  # torch major.minor ("2.6"), or an NGC container version ("25.09")
    cxx11_abi: bool | None  # None: the name does not say
    scheme: str = "upstream"

    @property
    def cuda_major(self) -> int:
        if "." in self.cuda:
            return int(self.cuda.split(".")[0])
        # "118" -> 11, "122" -> 12, "12" -> 12: two digits are a major alone, three or more major+minor.
        return int(self.cuda) if len(self.cuda) <= 2 else int(self.cuda[:-1])

    @property
    def is_ngc(self) -> bool:
        return int(self.torch.split(".")[0]) >= 20  # NGC container versions are YY.MM; torch majors are small numbers

    def __str__(self) -> str:
        return SCHEMES[self.scheme][1](self)


def _read_upstream(text: str) -> LocalTag | None:
    m = _UPSTREAM.match(text)
    return LocalTag(m["cuda"], m["torch"], m["abi"].upper() == "TRUE") if m else None


def _write_upstream(t: LocalTag) -> str:
    return f"cu{t.cuda}torch{t.torch}cxx11abi{'TRUE' if t.cxx11_abi else 'FALSE'}"


def _read_astral(text: str) -> LocalTag | None:
    m = _ASTRAL.match(text)
    return LocalTag(m["cuda"], m["torch"], None, "astral") if m else None


def _write_astral(t: LocalTag) -> str:
    return f"cu.{t.cuda}.torch.{t.torch}"


SCHEMES = {"upstream": (_read_upstream, _write_upstream), "astral": (_read_astral, _write_astral)}


def parse_local(text: str) -> LocalTag | None:
    """The local version (the part after ``+``) in any known scheme; None for any other local version."""
    for read, _ in SCHEMES.values():
        tag = read(text)
        if tag is not None:
            return tag
    return None


def local_of_version(version: str) -> LocalTag | None:
    """``2.3.2.post1+cu13torch2.11cxx11abiTRUE`` (as a dist-info records it, often lower-cased) -> its LocalTag."""
    _, plus, local = version.partition("+")
    return parse_local(local) if plus else None


def upstream_local(cuda_major: int | str, torch_version: str, cxx11_abi: bool) -> LocalTag:
    """The tag upstream's setup.py (2.x) and ``mambaenv build`` give a wheel built against this torch."""
    v = Version(torch_version)
    return LocalTag(str(cuda_major), f"{v.major}.{v.minor}", bool(cxx11_abi))


def cuda_tag(style: str, toolkit: str) -> str:
    """How a release's file names spell its CUDA toolkit: ``major`` (12) or ``major+minor`` (122)."""
    major, minor = toolkit.split(".")[:2]
    return major if style == "major" else f"{major}{minor}"


@dataclass(frozen=True)
class WheelName:
    package: str  # as the file spells it
    version: str  # the public version, without the local part
    local: LocalTag | None  # None: no local version, or one in no known scheme
    python_tag: str  # "cp38", "py3"
    abi_tag: str  # "cp38", "cp37m", "abi3", "none"
    platform_tag: str  # "linux_x86_64", "manylinux_2_28_x86_64", "any"
    local_text: str = ""  # the local version as written

    @property
    def python_version(self) -> str | None:
        """``cp310`` -> ``3.10``; None for a wheel that names no single CPython (``py3``)."""
        m = _CPYTHON.match(self.python_tag)
        return f"{m.group(1)}.{m.group(2)}" if m else None

    @property
    def machine(self) -> str | None:
        return next((m for m in MACHINES if self.platform_tag.endswith(m)), None)

    @property
    def manylinux_glibc(self) -> str | None:
        """``manylinux_2_28_x86_64`` -> ``2.28`` (``manylinux2014`` is 2.17): the oldest glibc the wheel runs on."""
        m = re.match(r"^manylinux_(\d+)_(\d+)_", self.platform_tag)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
        return {"manylinux2014": "2.17", "manylinux2010": "2.12", "manylinux1": "2.5"}.get(self.platform_tag.split("_", 1)[0])

    @property
    def filename(self) -> str:
        local = f"+{self.local_text or self.local}" if (self.local or self.local_text) else ""
        return f"{self.package}-{self.version}{local}-{self.python_tag}-{self.abi_tag}-{self.platform_tag}.whl"


def parse_wheel_filename(name: str) -> WheelName | None:
    """A wheel's file name (``%2B``, a URL-encoded ``+``, accepted); None when it is not a valid wheel name."""
    # start-up: packaging.utils pulls in packaging.tags; only a wheel name needs it
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_wheel_filename as parse_standard

    name = unquote(name)
    try:
        parse_standard(name)
    except InvalidWheelFilename:
        return None
    parts = name[:-4].split("-")
    public, _, local_text = parts[1].partition("+")
    return WheelName(parts[0], public, parse_local(local_text) if local_text else None, *parts[-3:], local_text)


def python_tags(python_version: str) -> tuple[str, str]:
    """CPython tags as bdist_wheel writes them; 3.7 still carries the ``m`` ABI flag."""
    major, minor = python_version.split(".")[:2]
    tag = f"cp{major}{minor}"
    return tag, (tag + "m" if (int(major), int(minor)) < (3, 8) else tag)


def format_wheel_filename(package: str, version: str, local: LocalTag, python_version: str, machine: str,
                          platform: str = "linux") -> str:
    """``platform``: ``linux`` (upstream's tag) or a manylinux prefix such as ``manylinux_2_28``."""
    py, abi = python_tags(python_version)
    return WheelName(package, version, local, py, abi, f"{platform}_{machine}").filename


def release_url(repo: str, tag: str, filename: str) -> str:
    return f"https://github.com/{repo}/releases/download/{tag}/{quote(filename)}"


def safe_filename(name: str, source: str) -> str:
    """A name from the network or an archive is one plain path component, or it is refused.

    Refused: empty, ``.``/``..``, any ``/`` or ``\\`` (after URL decoding), a NUL or control
    character, a leading dot (hidden files such as ``.bashrc``), or over 255 bytes.
    """
    bad = (not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\")
           or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name.encode("utf-8", "replace")) > 255)
    if bad:
        raise BadInput(f"refusing the file name {name!r} from {source}: a file name must be one plain path component",
                       "use a URL (or bundle) whose last part is a plain file name such as NAME.whl")
    return name


def filename_from_url(url: str) -> str:
    """The decoded last path segment of ``url`` (query and fragment left out), checked by ``safe_filename``."""
    path = urlsplit(url).path
    return safe_filename(unquote(path.rsplit("/", 1)[-1]), url)


def wheel_filename_from_url(url: str) -> str:
    """As ``filename_from_url``, and it must name a wheel: only a wheel is checked before it enters the cache."""
    name = filename_from_url(url)
    if not name.endswith(".whl"):
        raise BadInput(f"{url} does not name a wheel (.whl) file", "give the URL of a .whl release asset")
    return name
