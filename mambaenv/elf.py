"""ELF files read section by section with pyelftools: glibc/libstdc++ version needs and the GPU code they carry.

The needs come from ``.gnu.version_r``; the GPU code from the ``.nv_fatbin`` container headers (magic 0xBA55ED50;
each entry names its kind, 1 = PTX, 2 = SASS cubin, and its sm number). Only headers are read, never payloads, so a
400 MB extension costs a few reads. Used for wheels (wheel.py) and for installed builds (the planner, doctor).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
_FATBIN_HEADER = struct.Struct("<IHHQ")  # magic, version, header size, size of the entries that follow
_FATBIN_ENTRY = struct.Struct("<HHIQIIHHI")  # kind, version, header size, payload size, compressed, -, minor, major, arch
_MAX_FATBIN_ENTRIES = 100_000


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _newest(names: list[str], prefix: str) -> str | None:
    found = [n[len(prefix):] for n in names if n.startswith(prefix) and re.fullmatch(r"[\d.]+", n[len(prefix):])]
    return max(found, key=version_tuple) if found else None


@dataclass
class ElfFacts:
    name: str
    glibc_needed: str | None = None
    glibcxx_needed: str | None = None
    archs: tuple[int, ...] = ()  # SASS (cubin) targets in .nv_fatbin
    ptx: tuple[int, ...] = ()  # PTX targets (JIT-able on newer GPUs)
    note: str | None = None  # why it was not read

    def to_dict(self) -> dict:
        return {"name": self.name, "glibc_needed": self.glibc_needed, "glibcxx_needed": self.glibcxx_needed,
                "archs": list(self.archs), "ptx": list(self.ptx), "note": self.note}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _newest(names: list[str], prefix: str) -> str | None:
    found = [n[len(prefix):] for n in names if n.startswith(prefix) and re.fullmatch(r"[\d.]+", n[len(prefix):])]
    return max(found, key=_version_tuple) if found else None


def fatbin_targets(f, offset: int, size: int) -> tuple[set[int], set[int]]:
    """(SASS archs, PTX archs) from the container headers of a .nv_fatbin section; payloads are skipped."""
    sass, ptx = set(), set()
    pos, seen = 0, 0
    while pos + _FATBIN_HEADER.size <= size and seen < _MAX_FATBIN_ENTRIES:
        f.seek(offset + pos)
        magic, _, header_size, fat_size = _FATBIN_HEADER.unpack(f.read(_FATBIN_HEADER.size))
        if magic != FATBIN_MAGIC:
            pos += 8  # containers are 8-byte aligned; padding between them is skipped
            seen += 1
            continue
        entry, end = pos + header_size, min(pos + header_size + fat_size, size)
        while entry + _FATBIN_ENTRY.size <= end and seen < _MAX_FATBIN_ENTRIES:
            f.seek(offset + entry)
            kind, _, e_header, e_size, _, _, _, _, arch = _FATBIN_ENTRY.unpack(f.read(_FATBIN_ENTRY.size))
            seen += 1
            if e_header == 0:
                break
            (sass if kind == 2 else ptx if kind == 1 else set()).add(arch)
            entry += e_header + e_size
        pos = max(end, pos + 8)
    return sass, ptx


def read_elf_facts(path: Path, name: str) -> ElfFacts:
    """Version needs and GPU targets of one ELF file, reading only the sections that hold them."""
    # start-up: pyelftools loads only when a wheel's libraries are read
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    facts = ElfFacts(name)
    with open(path, "rb") as f:
        try:
            elf = ELFFile(f)
            needs = []
            for sec in elf.iter_sections():
                if isinstance(sec, GNUVerNeedSection):
                    for _, auxes in sec.iter_versions():
                        needs += [aux.name for aux in auxes]
            facts.glibc_needed = _newest(needs, "GLIBC_")
            facts.glibcxx_needed = _newest(needs, "GLIBCXX_")
            fat = elf.get_section_by_name(".nv_fatbin")
            if fat is not None and fat["sh_type"] != "SHT_NOBITS":
                sass, ptx = fatbin_targets(f, fat["sh_offset"], fat["sh_size"])
                facts.archs, facts.ptx = tuple(sorted(sass)), tuple(sorted(ptx))
        except (ELFError, struct.error, ValueError) as e:
            facts.note = f"not a readable ELF file ({type(e).__name__})"
    return facts


def gpu_code(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(SASS, PTX) targets of one library on disk, e.g. ((80, 90), ()); ((), ()) when it carries none or is unreadable."""
    try:
        facts = read_elf_facts(Path(path), Path(path).name)
    except OSError:
        return (), ()
    return facts.archs, facts.ptx
