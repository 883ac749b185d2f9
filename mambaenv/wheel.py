"""Wheel files: is it a whole wheel, what was it built for, what do its libraries need, which GPUs they run on.

Each library is streamed out of the zip into a temporary file in 1 MiB chunks, up to ``MAX_ELF_BYTES``, and read
section by section (elf.py), so inspecting a wheel costs a few MiB of memory whatever its size.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name
from packaging.utils import parse_wheel_filename as std_parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mambaenv.catalog import catalog_sha256
from mambaenv.compat import WheelFacts, evaluate
from mambaenv.digest import sha256_file
from mambaenv.elf import ElfFacts, read_elf_facts, version_tuple
from mambaenv.errors import BadWheel
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import WheelName, parse_wheel_filename

CHUNK = 1 << 20
MAX_ELF_BYTES = 4 << 30  # the largest library inspection reads (upstream's are a few hundred MiB)
# A library is extracted to TMPDIR to be read. Up to ELF_ANY_RATIO_BYTES any compression is taken (padding compresses
# to nothing, and 256 MiB is cheap to write); above it, one expanding more than MAX_ELF_RATIO times its compressed size
# is a bomb, not a build (a 4 GiB .so in a 4 MB wheel), and is not written out.
MAX_ELF_RATIO = 20
ELF_ANY_RATIO_BYTES = 512 << 20
MAX_METADATA_BYTES = 4 << 20  # a wheel's METADATA is kB; mamba_ssm's with its README under 40 kB


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
    if info.file_size > max(MAX_ELF_RATIO * info.compress_size, ELF_ANY_RATIO_BYTES):
        return ElfFacts(info.filename, note=f"expands {info.file_size // max(info.compress_size, 1)} times its compressed size "
                                            "(a built library does not); not inspected")
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if info.file_size > free - (64 << 20):
        return ElfFacts(info.filename, note=f"needs {info.file_size >> 20} MiB in {tempfile.gettempdir()}, which has {free >> 20} MiB free; "
                                            "not inspected (set TMPDIR to a bigger disk)")
    limit = min(MAX_ELF_BYTES, max(MAX_ELF_RATIO * info.compress_size, ELF_ANY_RATIO_BYTES))
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
                if copied > max(limit, info.file_size):  # the zip header under-stated the size
                    return ElfFacts(info.filename, note="larger than its zip header says; not inspected")
                tmp.write(chunk)
            tmp.flush()
            return read_elf_facts(Path(tmp.name), info.filename)


def _open_zip(path: Path) -> zipfile.ZipFile:
    """A wheel is a zip from its first byte. zipfile finds the directory at the end and forgives data before it, so
    a tar bundle (whose last member is a wheel) would otherwise be read as that last wheel."""
    if not path.is_file():
        raise BadWheel(f"no such file: {path}", "give the path of a downloaded .whl")
    with open(path, "rb") as f:
        head = f.read(262)
    if head[257:262] == b"ustar" or head[:2] == b"\x1f\x8b":
        raise BadWheel(f"{path.name} is a tar archive (a mambaenv bundle?), not a wheel",
                       "a bundle goes to mambaenv install --offline-wheel BUNDLE; inspect takes the .whl files in it")
    try:
        if head[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("does not start with a zip entry")
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BadWheel(f"{path.name} is not a whole wheel (truncated or not a zip)", "download it again; mambaenv download verifies it") from None


def _read_metadata(zf: zipfile.ZipFile, member: str, wheel: str) -> str:
    """METADATA, at most MAX_METADATA_BYTES: its size in the zip header may lie, so the read itself is bounded."""
    if zf.getinfo(member).file_size > MAX_METADATA_BYTES:
        raise BadWheel(f"{wheel} has a {zf.getinfo(member).file_size}-byte METADATA; a wheel's is a few kB", "check where the file came from")
    with zf.open(member) as f:
        data = f.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise BadWheel(f"{wheel} has a METADATA larger than its zip header says; not read", "check where the file came from")
    return data.decode("utf-8", "replace")


def _metadata_field(meta: str, key: str, wheel: str) -> str:
    found = re.findall(rf"^{key}: (.+)$", meta, re.M)
    if not found:
        raise BadWheel(f"{wheel} is not a valid wheel: its METADATA has no {key}: field", "download it again, or rebuild it")
    if len(found) > 1:  # installers take the first, readers the last: which one is meant cannot be known
        raise BadWheel(f"{wheel} is not a valid wheel: its METADATA has {len(found)} {key}: fields", "rebuild it")
    return found[0].strip()


def inspect_wheel(path: Path, read_elf: bool = True, check_crc: bool = True) -> WheelInfo:
    """Open the zip, check it is whole (dist-info, RECORD; every member's CRC unless ``check_crc`` is False), read
    metadata and ELF version needs."""
    path = Path(path)
    with _open_zip(path) as zf:
        names = zf.namelist()
        dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_infos) != 1:
            raise BadWheel(f"{path.name} has {len(dist_infos)} .dist-info folders, a wheel has one", "download it again")
        di = dist_infos.pop()
        for required in ("METADATA", "RECORD", "WHEEL"):
            if f"{di}/{required}" not in names:
                raise BadWheel(f"{path.name} lacks {di}/{required}", "download it again")
        meta = _read_metadata(zf, f"{di}/METADATA", path.name)  # before the CRC pass: a 1 GiB METADATA stops here
        bad = zf.testzip() if check_crc else None  # decompresses every member: seconds for a 400 MB wheel
        if bad:
            raise BadWheel(f"{path.name} is corrupt ({bad} fails its CRC)", "download it again")
        dist_name, dist_version = (_metadata_field(meta, k, path.name) for k in ("Name", "Version"))
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


def name_problem(info: WheelInfo, filename: str | None = None) -> str | None:
    """Does the wheel's own METADATA name the project and version its file name says? A +local part the name adds is
    allowed (upstream and mambaenv build add it by renaming). None when they agree."""
    filename = filename or info.path.name
    try:
        project, version, _build, _tags = std_parse_wheel_filename(filename)
        meta_version = Version(info.dist_version)
    except (InvalidWheelFilename, InvalidVersion) as e:
        return f"its name or METADATA version cannot be read ({e})"
    if canonicalize_name(info.dist_name) != canonicalize_name(project):
        return f"{filename} names {project}, but its METADATA says {info.dist_name} {info.dist_version}"
    if meta_version.public != version.public or (meta_version.local and meta_version.local != version.local):
        return f"{filename} names version {version}, but its METADATA says {info.dist_version}"
    return None


def _verified(path: Path, name: str, check_crc: bool) -> None:
    info = inspect_wheel(path, read_elf=False, check_crc=check_crc)
    problem = name_problem(info, name)
    if problem:  # a mirror serving one project's wheel under another's name: refused before it is placed anywhere
        raise BadWheel(f"{problem}: not the file it is named as", "that source serves a renamed file: use another mirror or the original URL")


def verify_wheel_file(path: Path, name: str) -> None:
    """For the downloader: only a whole wheel, whose METADATA agrees with its name, may enter the cache."""
    if name.endswith(".whl"):
        _verified(path, name, check_crc=True)


def verify_published_wheel(path: Path, name: str) -> None:
    """For a file whose sha256 the downloader matched against the release's published one: those are upstream's own
    bytes, so the CRC pass (it decompresses everything: seconds for a 400 MB wheel) proves nothing more. The layout
    is still checked. A digest typed by a user or listed by a wheelhouse gets the whole check (verify_wheel_file)."""
    if name.endswith(".whl"):
        _verified(path, name, check_crc=False)


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
