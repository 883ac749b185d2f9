"""Tiny ELF libraries with a real-format ``.nv_fatbin`` section, made without CUDA tools.

Format (little-endian), as NVIDIA's fatbinary.h declares the container header and as the open
readers jiegec/fatbinary (Rust) and n-eiling/cuda-fatbin-decompression document the entry header:
  container: u32 magic 0xBA55ED50, u16 version 1, u16 header size 16, u64 size of the entries
  entry:     u16 kind (1 PTX, 2 ELF/cubin), u16 version, u32 header size, u64 payload size,
             u32 compressed size, u32 flags-or-zero, u16 minor, u16 major, u32 arch (80 = sm_80), ...
The payloads here are placeholder bytes: only the headers are read by mambaenv.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

ENTRY_HEADER_SIZE = 64


def fatbin_container(entries: list[tuple[int, int]], payload: bytes = b"\0" * 24) -> bytes:
    """One container; ``entries`` are (kind, arch) pairs."""
    body = b""
    for kind, arch in entries:
        header = struct.pack("<HHIQIIHHI", kind, 0x0101, ENTRY_HEADER_SIZE, len(payload), 0, 0, 8, 1, arch)
        body += header.ljust(ENTRY_HEADER_SIZE, b"\0") + payload
    return struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(body)) + body


def fatbin_section(containers: list[list[tuple[int, int]]]) -> bytes:
    """Several containers, each 8-byte aligned, as nvcc's objects leave them after linking."""
    out = b""
    for c in containers:
        blob = fatbin_container(c)
        out += blob + b"\0" * (-len(blob) % 8)
    return out


def toolchain_present() -> bool:
    return all(shutil.which(t) for t in ("gcc", "objcopy"))


def build_library(folder: Path, containers: list[list[tuple[int, int]]], name: str = "libtiny_fatbin.so") -> Path:
    """A shared library (gcc) that needs glibc symbols, with a .nv_fatbin section added (objcopy)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "tiny.c"
    src.write_text('#include <stdio.h>\n#include <string.h>\n'
                   'int tiny(const char *s) { char b[64]; strncpy(b, s, 63); b[63] = 0; return printf("%s", b); }\n')
    plain = folder / "plain.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(plain), str(src)], check=True, capture_output=True)
    blob = folder / "fatbin.bin"
    blob.write_bytes(fatbin_section(containers))
    out = folder / name
    subprocess.run(["objcopy", "--add-section", f".nv_fatbin={blob}", "--set-section-flags", ".nv_fatbin=alloc,readonly",
                    str(plain), str(out)], check=True, capture_output=True)
    return out


# The committed fixture: two containers (two .cu files), SASS for sm_80/sm_90/sm_120 and PTX for compute_90.
FIXTURE_CONTAINERS = [[(2, 80), (2, 90), (2, 120)], [(2, 80), (2, 90), (2, 120), (1, 90)]]

if __name__ == "__main__":  # python -m tests.fatbin_fixture: rebuild tests/fixtures/fatbin/libtiny_fatbin.so
    import tempfile

    here = Path(__file__).resolve().parent / "fixtures" / "fatbin"
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_library(Path(tmp), FIXTURE_CONTAINERS)
        shutil.copy(lib, here / lib.name)
    print(here / "libtiny_fatbin.so")
