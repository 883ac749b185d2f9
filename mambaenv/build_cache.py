"""Local builds kept once per environment: wheels in the cache keyed by what makes a build reusable.

The key is (package, sdist sha256, torch version with its CUDA, Python, C++ ABI, architecture list). A
`build` with the same key returns the stored wheel at once; the planner lists every stored build (cached_builds)
and judges each through compat, like any other wheel.

Layout: <cache>/builds/<key>/build.json (the facts) and <cache>/builds/<key>/<sha256>/<wheel>. As in the download
cache, the digests live in the names the writer gave: the folder <key> is the digest of the facts build.json holds,
and the folder <sha256> the digest of the wheel in it. A lookup hashes again and never follows a name out of its
folder, so a swapped wheel, a rewritten build.json or a "wheel" that names another path is not served. This is not
a signature: whoever can write the cache can still plant a whole consistent entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mambaenv import jsonshape
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

    def digest_or_none(self) -> str | None:
        return self.digest() if self.complete() else None

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


KEY_SHAPE = {"package": str, "sdist_sha256": (str, None), "torch": (str, None), "torch_cuda": (str, None), "python": (str, None),
             "cxx11_abi": (bool, None), "archs": (str, None)}
META_SHAPE = {"wheel": str, "sha256": jsonshape.sha256_hex, "key": KEY_SHAPE, "?stored_at": (int, float), "?seconds": (int, float, None)}
META_MAX_BYTES = 1 << 20


def _read_entry(folder: Path) -> tuple[dict, Path] | None:
    """(build.json, the wheel's path) for a whole, self-consistent entry; None for anything else (dropped, never fatal):
    the facts must hash to the folder's name, the wheel be a plain file under <sha256>/ named as build.json says."""
    meta = folder / META
    try:
        info = jsonshape.loads(jsonshape.read_file(meta, str(meta), META_MAX_BYTES), str(meta))
    except (OSError, ValueError):
        return None
    if jsonshape.problem(info, META_SHAPE) or set(info["key"]) != set(KEY_SHAPE) or BuildKey(**info["key"]).digest_or_none() != folder.name:
        return None
    name = info["wheel"]
    if not name.endswith(".whl") or name != Path(name).name or name.startswith("."):
        return None
    wheel = folder / info["sha256"] / name
    try:
        st = os.lstat(wheel)
    except OSError:
        return None
    return (info, wheel) if stat.S_ISREG(st.st_mode) else None  # a symlink would lead out of the cache


def _entries(cache_dir: Path):
    root = builds_root(cache_dir)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        entry = _read_entry(folder) if not folder.name.startswith(".") else None
        if entry:
            yield entry


def find_cached_build(key: BuildKey, cache_dir: Path, verify: bool = True) -> Path | None:
    """The stored wheel for this key (exact when the key is complete, else the newest match), or None.

    With verify, the wheel's bytes are hashed and must equal the digest its folder is named after."""
    if key.complete():
        entry = _read_entry(builds_root(cache_dir) / key.digest())
        candidates = [entry] if entry and key.matches(entry[0]["key"]) else []
    else:
        candidates = sorted((e for e in _entries(cache_dir) if key.matches(e[0]["key"])), key=lambda e: e[0].get("stored_at", 0), reverse=True)
    for _info, wheel in candidates:
        if verify and sha256_file(wheel) != wheel.parent.name:
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
        digest = sha256_file(wheel)
        (tmp / digest).mkdir()
        shutil.copy2(wheel, tmp / digest / wheel.name)
        if sha256_file(tmp / digest / wheel.name) != digest:
            raise OSError(f"{wheel} changed while it was being stored")
        info = {"wheel": wheel.name, "sha256": digest, "size": (tmp / digest / wheel.name).stat().st_size,
                "key": asdict(key), "stored_at": time.time(), **(extra or {})}
        (tmp / META).write_text(json.dumps(info, indent=1, sort_keys=True))
        if target_dir.exists():
            shutil.rmtree(target_dir)
        os.replace(tmp, target_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target_dir / digest / wheel.name


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
