"""Wheel files: is it a whole wheel, what was it built for, what do its libraries need."""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from mambaenv.errors import MambaenvError
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import WheelName, parse_wheel_filename

_GLIBC = re.compile(rb"GLIBC_2\.(\d+)")
_GLIBCXX = re.compile(rb"GLIBCXX_3\.4\.(\d+)")


class BadWheel(MambaenvError):
    exit_code = 4


@dataclass
class WheelInfo:
    path: Path
    name: WheelName | None
    dist_name: str
    dist_version: str
    requires: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    glibc_needed: str | None = None
    glibcxx_needed: str | None = None


def _max_version(pattern, data: bytes) -> int | None:
    found = [int(m) for m in pattern.findall(data)]
    return max(found) if found else None


def inspect_wheel(path: Path, read_elf: bool = True) -> WheelInfo:
    """Open the zip, check it is whole (dist-info, RECORD), read metadata and ELF version needs."""
    path = Path(path)
    if not path.is_file():
        raise BadWheel(f"no such file: {path}", "give the path of a downloaded .whl")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BadWheel(f"{path.name} is not a whole wheel (truncated or not a zip)", "download it again; mambaenv download verifies it") from None
    with zf:
        names = zf.namelist()
        dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_infos) != 1:
            raise BadWheel(f"{path.name} has {len(dist_infos)} .dist-info folders, a wheel has one", "download it again")
        di = dist_infos.pop()
        for required in ("METADATA", "RECORD", "WHEEL"):
            if f"{di}/{required}" not in names:
                raise BadWheel(f"{path.name} lacks {di}/{required}", "download it again")
        bad = zf.testzip()
        if bad:
            raise BadWheel(f"{path.name} is corrupt ({bad} fails its CRC)", "download it again")
        meta = zf.read(f"{di}/METADATA").decode("utf-8", "replace")
        fields = {k: re.search(rf"^{k}: (.+)$", meta, re.M) for k in ("Name", "Version")}
        missing = [k for k, m in fields.items() if not m]
        if missing:
            raise BadWheel(f"{path.name} is not a valid wheel: its METADATA has no {missing[0]}: field", "download it again, or rebuild it")
        dist_name, dist_version = (fields[k].group(1).strip() for k in ("Name", "Version"))
        requires = [m.strip() for m in re.findall(r"^Requires-Dist: (.+)$", meta, re.M)]
        exts = [n for n in names if n.endswith(".so")]
        glibc = glibcxx = None
        if read_elf:
            for n in exts:
                data = zf.read(n)
                g = _max_version(_GLIBC, data)
                gx = _max_version(_GLIBCXX, data)
                glibc = max(filter(None, (glibc, g)), default=None)
                glibcxx = max(filter(None, (glibcxx, gx)), default=None)
    return WheelInfo(path, parse_wheel_filename(path.name), dist_name, dist_version, requires, exts,
                     f"2.{glibc}" if glibc is not None else None, f"3.4.{glibcxx}" if glibcxx is not None else None)


def verify_wheel_file(path: Path, name: str) -> None:
    """For the downloader: only a whole wheel may enter the cache."""
    if name.endswith(".whl"):
        inspect_wheel(path, read_elf=False)


def mismatches(info: WheelInfo, env: TargetEnv, host_glibc: str | None = None) -> list[str]:
    """What differs between the wheel and the env, in the user's words; empty when it fits."""
    out = []
    n = info.name
    if n is None:
        return [f"{info.path.name} is not named like a wheel (name-version-python-abi-platform.whl)"]
    if n.python_tag != "py3" and n.python_version != env.python:
        out.append(f"wheel is for Python {n.python_version}, this env has Python {env.python}")
    if n.machine and n.machine != env.machine:
        out.append(f"wheel is for {n.machine}, this machine is {env.machine}")
    if n.local:
        if env.torch is None:
            out.append("wheel needs torch, this env has no torch")
        elif env.torch_cuda is None:
            out.append(f"wheel is for CUDA {n.local.cuda_major}, this env's torch is CPU-only")
        else:
            if n.local.cuda_major != env.cuda_major:
                out.append(f"wheel is for CUDA {n.local.cuda_major}, this env's torch is built for CUDA {env.torch_cuda}")
            if n.local.is_ngc:
                if env.ngc_version != n.local.torch:
                    out.append(f"wheel was built in the NGC {n.local.torch} container, this env is not that container")
            elif n.local.torch != env.torch_major_minor:
                out.append(f"wheel is for torch {n.local.torch}, this env has torch {env.torch}")
            if env.cxx11_abi is not None and n.local.cxx11_abi != env.cxx11_abi:
                out.append(f"wheel is cxx11abi{'TRUE' if n.local.cxx11_abi else 'FALSE'}, this env's torch is "
                           f"cxx11abi{'TRUE' if env.cxx11_abi else 'FALSE'}")
    if host_glibc and info.glibc_needed and Version(info.glibc_needed) > Version(host_glibc):
        out.append(f"wheel's libraries need GLIBC {info.glibc_needed}, this system has {host_glibc}")
    return out
