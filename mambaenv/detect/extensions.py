"""The installed mamba_ssm / causal_conv1d of a target env: dist-info, does the CUDA extension load, which GPUs it has code for.

Loading the extension needs torch, so it happens in the target env's own interpreter (probe_script.py
--extensions); mambaenv reads the extension's file only as an ELF file (elf.py).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.detect.pyenv import probe_source
from mambaenv.elf import gpu_code

EXT_PROBE_TIMEOUT_S = 120  # importing a CUDA torch and two extensions takes 5-20 s on a cold cache


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


def archs_of(extension: str) -> tuple[list[str], list[str]]:
    """(SASS, PTX) of an extension file, as "9.0" (elf.py reads the fat binary's headers only)."""
    sass, ptx = gpu_code(Path(extension))
    return [f"{a // 10}.{a % 10}" for a in sass], [f"{a // 10}.{a % 10}" for a in ptx]


def from_probe(raw: dict, read_archs: bool = True) -> list[InstalledPackage]:
    out = []
    for package, info in (raw.get("packages") or {}).items():
        p = InstalledPackage(package, info["version"], info["module"], info.get("extension"), info.get("load_error"),
                             bool(info.get("loaded_from")), info.get("direct_url"), checked_at=raw.get("checked_at"))
        if "sass" in info:
            p.sass, p.ptx = info["sass"], info.get("ptx", [])
        elif read_archs and p.extension:
            p.sass, p.ptx = archs_of(p.extension)
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
