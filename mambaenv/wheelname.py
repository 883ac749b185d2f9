"""Upstream wheel file names: ``{pkg}-{ver}+cu{C}torch{T}cxx11abi{B}-{py}-{abi}-linux_{machine}.whl``.

Pure functions over names; nothing here touches the network or disk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from mambaenv.errors import BadInput
from mambaenv.upstream import MACHINES

_LOCAL = re.compile(r"^cu(?P<cuda>\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)$")
_FILE = re.compile(
    r"^(?P<pkg>[A-Za-z0-9_]+)-(?P<version>[^-+]+)(?:\+(?P<local>[^-]+))?"
    r"-(?P<py>cp\d+)-(?P<abi>cp\d+m?|abi3|none)-(?P<plat>[A-Za-z0-9_.]+)\.whl$"
)


@dataclass(frozen=True)
class LocalTag:
    """The ``+cu12torch2.6cxx11abiTRUE`` part: what the wheel was built against."""

    cuda: str  # as written: "118", "122", "12", "13"
    torch: str  # torch major.minor ("2.6") or an NGC container version ("25.09")
    cxx11_abi: bool

    @property
    def cuda_major(self) -> int:
        # "118" -> 11, "122" -> 12, "12" -> 12: two digits are a major alone, three or more major+minor.
        return int(self.cuda) if len(self.cuda) <= 2 else int(self.cuda[:-1])

    @property
    def is_ngc(self) -> bool:
        major = int(self.torch.split(".")[0])
        return major >= 20  # NGC container versions are YY.MM; torch majors are small numbers

    def __str__(self) -> str:
        return f"cu{self.cuda}torch{self.torch}cxx11abi{'TRUE' if self.cxx11_abi else 'FALSE'}"


@dataclass(frozen=True)
class WheelName:
    package: str
    version: str
    local: LocalTag | None
    python_tag: str  # "cp38"
    abi_tag: str  # "cp38" or "cp37m"
    platform_tag: str  # "linux_x86_64"

    @property
    def python_version(self) -> str:
        digits = self.python_tag[2:]
        return f"{digits[0]}.{digits[1:]}"

    @property
    def machine(self) -> str | None:
        for m in MACHINES:
            if self.platform_tag.endswith(m):
                return m
        return None

    @property
    def filename(self) -> str:
        local = f"+{self.local}" if self.local else ""
        return f"{self.package}-{self.version}{local}-{self.python_tag}-{self.abi_tag}-{self.platform_tag}.whl"


def parse_local_tag(text: str) -> LocalTag | None:
    m = _LOCAL.match(text)
    if not m:
        return None
    return LocalTag(cuda=m["cuda"], torch=m["torch"], cxx11_abi=m["abi"] == "TRUE")


def parse_wheel_filename(name: str) -> WheelName | None:
    """Parse an upstream-style wheel name; ``%2B`` (a URL-encoded ``+``) is accepted."""
    m = _FILE.match(unquote(name))
    if not m:
        return None
    local = parse_local_tag(m["local"]) if m["local"] else None
    return WheelName(
        package=m["pkg"],
        version=m["version"],
        local=local,
        python_tag=m["py"],
        abi_tag=m["abi"],
        platform_tag=m["plat"],
    )


def python_tags(python_version: str) -> tuple[str, str]:
    """CPython tags as bdist_wheel writes them; 3.7 still carries the ``m`` ABI flag."""
    major, minor = python_version.split(".")[:2]
    tag = f"cp{major}{minor}"
    return tag, (tag + "m" if (int(major), int(minor)) < (3, 8) else tag)


def format_wheel_filename(package: str, version: str, local: LocalTag, python_version: str, machine: str) -> str:
    py, abi = python_tags(python_version)
    return WheelName(package, version, local, py, abi, f"linux_{machine}").filename


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
