"""Local builds kept once per environment: wheels in the cache keyed by what makes a build reusable.

The key is (package, sdist sha256, torch version with its CUDA, Python, C++ ABI, architecture list). A
`build` with the same key returns the stored wheel at once; install, docker build and doctor look builds up
with partial facts (no sdist at hand) and take the newest that fits.

Layout: <cache>/builds/<key>/<wheel> and <cache>/builds/<key>/build.json (the facts, the wheel's sha256).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mambaenv.digest import sha256_file

META = "build.json"


@dataclass(frozen=True)
class BuildKey:
    package: str
    sdist_sha256: str | None  # None in a lookup: any sdist (newest build wins)
    torch: str | None  # "2.11.0+cu130"
    torch_cuda: str | None  # "13.0"
    python: str | None  # "3.12"
    cxx11_abi: bool | None
    archs: str | None  # "9.0" / "8.6,9.0" / "upstream"; None in a lookup: any

    def complete(self) -> bool:
        return all(getattr(self, f.name) is not None for f in fields(self))

    def digest(self) -> str:
        if not self.complete():
            raise ValueError("a partial key has no digest")
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]

    def matches(self, stored: dict) -> bool:
        """True when every fact this key gives equals the stored build's."""
        return all(v is None or stored.get(k) == v for k, v in asdict(self).items())

    def describe(self) -> str:
        return (f"{self.package} for torch {self.torch} (CUDA {self.torch_cuda}), Python {self.python}, "
                f"cxx11abi {self.cxx11_abi}, arch {self.archs}")


def archs_fact(archs: list[str] | None) -> str:
    return "upstream" if archs is None else ",".join(sorted(a.strip() for a in archs))


def builds_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / "builds"


def _entries(cache_dir: Path):
    root = builds_root(cache_dir)
    if not root.is_dir():
        return
    for meta in root.glob(f"*/{META}"):
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict) or not isinstance(info.get("wheel"), str) or "/" in info["wheel"]:
            continue
        wheel = meta.parent / info["wheel"]
        if wheel.is_file():
            yield info, wheel


def find_cached_build(key: BuildKey, cache_dir: Path, verify: bool = True) -> Path | None:
    """The stored wheel for this key (exact when the key is complete, else the newest match), or None.

    With verify, the wheel's bytes are hashed and must equal the sha256 recorded when it was stored."""
    if key.complete():
        meta = builds_root(cache_dir) / key.digest() / META
        candidates = []
        try:
            info = json.loads(meta.read_text())
            candidates = [(info, meta.parent / info["wheel"])] if key.matches(info.get("key", {})) else []
        except (OSError, ValueError, KeyError, TypeError):
            return None
    else:
        candidates = sorted(((i, w) for i, w in _entries(cache_dir) if key.matches(i.get("key", {}))),
                            key=lambda iw: iw[0].get("stored_at", 0), reverse=True)
    for info, wheel in candidates:
        if not wheel.is_file():
            continue
        if verify and sha256_file(wheel) != info.get("sha256"):
            continue
        return wheel
    return None


def store_build(wheel: Path, key: BuildKey, cache_dir: Path, extra: dict | None = None) -> Path:
    """Copy the wheel into the cache under its key (whole or not at all); returns the stored path."""
    if "/" in wheel.name or wheel.name.startswith("."):
        raise ValueError(f"bad wheel name {wheel.name!r}")
    target_dir = builds_root(cache_dir) / key.digest()
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".store-", dir=target_dir.parent))
    try:
        shutil.copy2(wheel, tmp / wheel.name)
        info = {"wheel": wheel.name, "sha256": sha256_file(tmp / wheel.name), "size": (tmp / wheel.name).stat().st_size,
                "key": asdict(key), "stored_at": time.time(), **(extra or {})}
        (tmp / META).write_text(json.dumps(info, indent=1, sort_keys=True))
        if target_dir.exists():
            shutil.rmtree(target_dir)
        os.replace(tmp, target_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target_dir / wheel.name


def cached_builds(cache_dir: Path, package: str | None = None) -> list[dict]:
    """Every stored build (newest first): {"wheel": path, "key": facts, "stored_at"}; for doctor and listings."""
    out = [{"wheel": str(w), "key": i.get("key", {}), "stored_at": i.get("stored_at"), "seconds": i.get("seconds"), "sha256": i.get("sha256")}
           for i, w in _entries(cache_dir) if package is None or i.get("key", {}).get("package") == package]
    return sorted(out, key=lambda d: d.get("stored_at") or 0, reverse=True)


def key_for_target(package: str, target, sdist_sha256: str | None = None, archs: list[str] | None | str = "any") -> BuildKey:
    """A key from a TargetEnv-like object (torch, torch_cuda, python, cxx11_abi); archs "any" leaves it open."""
    py = getattr(target, "python", None)
    py = ".".join(str(py).split(".")[:2]) if py else None
    return BuildKey(package, sdist_sha256, getattr(target, "torch", None), getattr(target, "torch_cuda", None), py,
                    None if getattr(target, "cxx11_abi", None) is None else bool(target.cxx11_abi),
                    None if archs == "any" else archs_fact(archs))


def cached_wheels_for_target(target, cache_dir: Path, packages=("mamba_ssm", "causal_conv1d")) -> dict:
    """{package: wheel path or None}: the newest local build made for this env's torch, CUDA, Python and ABI
    (any sdist, any architecture list). For install (use it before resolving upstream wheels) and for
    doctor ("a local build for this env is in the cache")."""
    return {p: find_cached_build(key_for_target(p, target), cache_dir) for p in packages}
