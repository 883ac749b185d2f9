"""Wheel files: is it a whole wheel, what was it built for, what do its libraries need, which GPUs they run on.

Each library is streamed out of the zip into a temporary file in 1 MiB chunks, up to ``MAX_ELF_BYTES``, and read
section by section (elf.py), so inspecting a wheel costs a few MiB of memory whatever its size.
"""
from __future__ import annotations

import dataclasses
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.catalog import catalog_sha256
from mambaenv.compat import WheelFacts, evaluate
from mambaenv.digest import sha256_file
from mambaenv.elf import ElfFacts, read_elf_facts, version_tuple
from mambaenv.errors import BadWheel
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import WheelName, parse_wheel_filename

CHUNK = 1 << 20
MAX_ELF_BYTES = 4 << 30  # the largest library inspection reads (upstream's are a few hundred MiB)




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
    archs: tuple[int, ...] | None = None  # SASS targets every library carries; None: no GPU code found
    libraries: list["ElfFacts"] = field(default_factory=list)

    def to_dict(self) -> dict:
        n = self.name
        return {
            "file": self.path.name, "package": self.dist_name, "version": self.dist_version,
            "python": n.python_tag if n else None, "machine": n.machine if n else None,
            "torch": n.local.torch if n and n.local else None,
            "cuda": n.local.cuda_major if n and n.local else None,
            "cxx11_abi": n.local.cxx11_abi if n and n.local else None,
            "ngc": bool(n and n.local and n.local.is_ngc),
            "glibc_needed": self.glibc_needed, "glibcxx_needed": self.glibcxx_needed,
            "archs": list(self.archs) if self.archs is not None else None,
            "libraries": [lib.to_dict() for lib in self.libraries],
        }


def _member_facts(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> ElfFacts:
    """Stream one library out of the zip in bounded chunks, then read its sections."""
    if info.file_size > MAX_ELF_BYTES:
        return ElfFacts(info.filename, note=f"larger than {MAX_ELF_BYTES >> 20} MiB; not inspected")
    with zf.open(info) as src:
        if src.read(4) != b"\x7fELF":
            return ElfFacts(info.filename, note="not an ELF file")
        with tempfile.NamedTemporaryFile(prefix="mambaenv-elf-") as tmp:
            tmp.write(b"\x7fELF")
            copied = 4
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > MAX_ELF_BYTES:  # the zip header under-stated the size
                    return ElfFacts(info.filename, note=f"larger than {MAX_ELF_BYTES >> 20} MiB; not inspected")
                tmp.write(chunk)
            tmp.flush()
            return read_elf_facts(Path(tmp.name), info.filename)


def inspect_wheel(path: Path, read_elf: bool = True, check_crc: bool = True) -> WheelInfo:
    """Open the zip, check it is whole (dist-info, RECORD; every member's CRC unless ``check_crc`` is False), read
    metadata and ELF version needs."""
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
        bad = zf.testzip() if check_crc else None  # decompresses every member: seconds for a 400 MB wheel
        if bad:
            raise BadWheel(f"{path.name} is corrupt ({bad} fails its CRC)", "download it again")
        meta = zf.read(f"{di}/METADATA").decode("utf-8", "replace")
        fields = {k: re.search(rf"^{k}: (.+)$", meta, re.M) for k in ("Name", "Version")}
        missing = [k for k, m in fields.items() if not m]
        if missing:
            raise BadWheel(f"{path.name} is not a valid wheel: its METADATA has no {missing[0]}: field", "download it again, or rebuild it")
        dist_name, dist_version = (fields[k].group(1).strip() for k in ("Name", "Version"))
        requires = [m.strip() for m in re.findall(r"^Requires-Dist: (.+)$", meta, re.M)]
        exts = [n for n in names if n.endswith(".so") or ".so." in n.rsplit("/", 1)[-1]]
        libs = [_member_facts(zf, zf.getinfo(n)) for n in exts] if read_elf else []
    glibc = max((x.glibc_needed for x in libs if x.glibc_needed), key=version_tuple, default=None)
    glibcxx = max((x.glibcxx_needed for x in libs if x.glibcxx_needed), key=version_tuple, default=None)
    gpu_libs = [set(x.archs) for x in libs if x.archs]
    # every library must run on the GPU, so the wheel's list is what they all carry
    archs = tuple(sorted(set.intersection(*gpu_libs))) if gpu_libs else None
    return WheelInfo(path, parse_wheel_filename(path.name), dist_name, dist_version, requires, exts, glibc, glibcxx,
                     archs, libs)


def verify_catalog_digest(path: Path) -> None:
    """An upstream file whose sha256 the catalog knows must have exactly those bytes, wherever it came from."""
    path = Path(path)
    known = catalog_sha256(path.name)
    if not known:
        return
    digest = sha256_file(path)
    if digest != known:
        raise BadWheel(f"{path} is not the file GitHub serves: sha256 {digest[:16]}..., the release lists {known[:16]}...",
                       "download it again with mambaenv download (a mirror or copy gave other bytes)")


def verify_wheel_file(path: Path, name: str) -> None:
    """For the downloader: only a whole wheel may enter the cache."""
    if name.endswith(".whl"):
        inspect_wheel(path, read_elf=False)


def verify_published_wheel(path: Path, name: str) -> None:
    """For a file whose sha256 the downloader matched against the release's published one: those are upstream's own
    bytes, so the CRC pass (it decompresses everything: seconds for a 400 MB wheel) proves nothing more. The layout
    is still checked. A digest typed by a user or listed by a wheelhouse gets the whole check (verify_wheel_file)."""
    if name.endswith(".whl"):
        inspect_wheel(path, read_elf=False, check_crc=False)


def wheel_facts(info: WheelInfo):
    n = info.name
    gpu_libs = [set(x.ptx) for x in info.libraries if x.archs or x.ptx]
    ptx = tuple(sorted(set.intersection(*gpu_libs))) if gpu_libs else ()
    return WheelFacts(info.path.name, None if n.python_tag == "py3" else n.python_version, n.machine, n.local,
                      info.archs, info.glibc_needed, None, ptx)


def mismatches(info: WheelInfo, env: TargetEnv, host_glibc: str | None = None) -> list[str]:
    """What differs between the wheel and the env, in the user's words; empty when it fits (compat's rows)."""
    if info.name is None:
        return [f"{info.path.name} is not named like a wheel (name-version-python-abi-platform.whl)"]
    if host_glibc and not env.glibc:
        env = dataclasses.replace(env, glibc=host_glibc)
    return list(evaluate(wheel_facts(info), env).messages)
