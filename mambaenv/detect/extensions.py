"""The installed mamba_ssm / causal_conv1d of a target env: dist-info, does the CUDA extension load, which GPUs it has code for.

Loading the extension needs torch, so it happens in the target env's own interpreter (probe_script.py
--extensions); mambaenv reads the extension's file only as bytes.
"""
from __future__ import annotations

import json
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.detect.pyenv import probe_source

EXT_PROBE_TIMEOUT_S = 120  # importing a CUDA torch and two extensions takes 5-20 s on a cold cache

# A fat binary inside the extension's .nv_fatbin section: a header then entries, each one cubin (SASS)
# or PTX for one architecture. Layout: header {u32 magic, u16 version, u16 header_size, u64 size};
# entry {u16 kind, u16, u32 header_size, u64 size, u32, u32, u16 minor, u16 major, u32 arch, ...}.
FATBIN_MAGIC = struct.pack("<I", 0xBA55ED50)
FATBIN_KIND = {1: "ptx", 2: "sass"}
LOCAL_TAG = re.compile(r"cu\.?(\d+)(?:\.(\d+))?\.?torch\.?(\d+\.\d+)(?:cxx11abi(TRUE|FALSE))?", re.I)


@dataclass
class InstalledPackage:
    package: str
    version: str
    module: str
    extension: str | None = None  # the .so file, when present
    load_error: str | None = None
    loaded: bool = False
    direct_url: str | None = None
    sass: list[str] = field(default_factory=list)  # ["8.0", "9.0"]
    ptx: list[str] = field(default_factory=list)
    checked_at: str | None = None  # when these facts came from the record of an earlier load (detect/ext_record.py)


def fatbin_archs(data: bytes) -> tuple[list[str], list[str]]:
    """(SASS architectures, PTX architectures) of every fat binary in a library's bytes, as "9.0"."""
    sass, ptx = set(), set()
    start = data.find(FATBIN_MAGIC)
    while start != -1:
        if start + 16 > len(data):
            break
        _, _, header_size, size = struct.unpack_from("<IHHQ", data, start)
        pos, end = start + header_size, min(start + header_size + size, len(data))
        while header_size and pos + 32 <= end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, pos)
            arch = struct.unpack_from("<I", data, pos + 28)[0]
            if entry_header < 32 or kind not in FATBIN_KIND:
                break
            if 10 <= arch <= 200:
                (sass if kind == 2 else ptx).add(f"{arch // 10}.{arch % 10}")
            pos += entry_header + payload
        start = data.find(FATBIN_MAGIC, max(end, start + 4))
    key = lambda a: tuple(int(p) for p in a.split("."))  # noqa: E731
    return sorted(sass, key=key), sorted(ptx, key=key)


def runs_on(sass: list[str], ptx: list[str], capability: str) -> bool:
    """SASS runs on the same major with an equal or lower minor; PTX of an equal or lower arch can be JIT-compiled."""
    major, minor = (int(p) for p in capability.split(".")[:2])
    for a in sass:
        am, an = (int(p) for p in a.split("."))
        if am == major and an <= minor:
            return True
    return any(tuple(int(p) for p in a.split(".")) <= (major, minor) for a in ptx)


def parse_local_tag(version: str) -> dict | None:
    """``2.3.2.post1+cu13torch2.11cxx11abiTRUE`` -> {"cuda_major": 13, "torch": "2.11", "cxx11_abi": True}."""
    local = version.partition("+")[2]
    m = LOCAL_TAG.search(local)
    if not m:
        return None
    digits = m.group(1)
    major = int(digits) if m.group(2) is not None or len(digits) <= 2 else int(digits[:-1])
    abi = None if m.group(4) is None else m.group(4).upper() == "TRUE"
    return {"cuda_major": major, "torch": m.group(3), "cxx11_abi": abi}


def from_probe(raw: dict, read_archs: bool = True) -> list[InstalledPackage]:
    out = []
    for package, info in (raw.get("packages") or {}).items():
        p = InstalledPackage(package, info["version"], info["module"], info.get("extension"), info.get("load_error"),
                             bool(info.get("loaded_from")), info.get("direct_url"), checked_at=raw.get("checked_at"))
        if "sass" in info:
            p.sass, p.ptx = info["sass"], info.get("ptx", [])
        elif read_archs and p.extension:
            try:
                p.sass, p.ptx = fatbin_archs(Path(p.extension).read_bytes())
            except OSError:
                pass
        out.append(p)
    return out


def probe_installed(python: str, timeout: float = EXT_PROBE_TIMEOUT_S) -> dict:
    """Run the extension probe in the target env; a failure is reported in the result, not raised."""
    try:
        # From a neutral folder: `python -c` puts the current folder first on sys.path, and a mamba source checkout
        # there would be loaded instead of the installed package.
        proc = subprocess.run([python, "-c", probe_source(), "--extensions"], capture_output=True, text=True, timeout=timeout,
                              cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"the extension probe did not finish: {e}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the extension probe crashed: {tail}"}
