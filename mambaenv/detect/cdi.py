"""CDI (Container Device Interface) specs on this machine: which device kinds a container engine can hand out.

A spec is a JSON or YAML file in a spec folder (CDI's defaults: ``/etc/cdi``, ``/var/run/cdi``) that names a kind
(``nvidia.com/gpu``) and its devices (``0``, ``GPU-<uuid>``, ``all``); ``podman run --device nvidia.com/gpu=all`` (and
Docker >= 25 with CDI on) applies the spec's edits. ``nvidia-ctk cdi generate`` writes YAML, so the three fields
read here are read from either form without a YAML library: only these lines of what it writes matter:

    kind: nvidia.com/gpu        (top level)
    - containerEdits: ...       (a device, then its name two spaces in)
      name: "0"
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")
GPU_KIND = "nvidia.com/gpu"
MAX_SPEC_BYTES = 4 * 1024 * 1024  # nvidia-ctk's spec for 8 GPUs is ~30 KiB
_KIND_LINE = re.compile(r"^kind:\s*['\"]?([^'\"\s#]+)", re.M)
_NAME_LINE = re.compile(r"^(?:- |  )name:\s*['\"]?([^'\"\s#]+)", re.M)


@dataclass(frozen=True)
class CdiSpec:
    path: str
    kind: str
    devices: tuple[str, ...]


def spec_dirs(env: dict | None = None) -> tuple[str, ...]:
    """``MAMBAENV_CDI_SPEC_DIRS`` (colon-separated: where containers.conf's ``cdi_spec_dirs`` points elsewhere), else CDI's."""
    value = (os.environ if env is None else env).get("MAMBAENV_CDI_SPEC_DIRS", "")
    return tuple(d for d in value.split(":") if d) or DEFAULT_SPEC_DIRS


def parse_spec(text: str, path: str = "") -> CdiSpec | None:
    """The kind and device names of one spec's text (JSON, or YAML as nvidia-ctk writes it); None when it names no kind."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        devices = data.get("devices") if isinstance(data.get("devices"), list) else []
        names = tuple(str(d["name"]) for d in devices if isinstance(d, dict) and d.get("name") is not None)
        return CdiSpec(path, str(data["kind"]), names) if isinstance(data.get("kind"), str) else None
    kind = _KIND_LINE.search(text)
    return CdiSpec(path, kind.group(1), tuple(_NAME_LINE.findall(text))) if kind else None


def read_specs(dirs: tuple[str, ...] | None = None) -> list[CdiSpec]:
    """Every readable spec in ``dirs``; unreadable or oversized files are skipped (the engine would refuse them too)."""
    specs = []
    for folder in dirs if dirs is not None else spec_dirs():
        try:
            files = sorted(p for p in Path(folder).iterdir() if p.suffix in (".json", ".yaml", ".yml") and p.is_file())
        except OSError:
            continue
        for f in files:
            try:
                if f.stat().st_size > MAX_SPEC_BYTES:
                    continue
                spec = parse_spec(f.read_text(errors="replace"), str(f))
            except OSError:
                continue
            if spec:
                specs.append(spec)
    return specs


def devices_of(specs: list[CdiSpec], kind: str) -> list[str]:
    return [name for s in specs if s.kind == kind for name in s.devices]
