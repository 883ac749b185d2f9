"""What the last successful load of an env's extensions saw, so that doctor need not import torch there again.

Loading mamba_ssm's and causal_conv1d's extensions (probe_script.py --extensions) imports torch in the target:
4-6 s on a GPU machine, for an answer that cannot change while the files it rests on do not. The record is keyed
by those: the interpreter (its realpath) and env prefix, torch's version and version file, each extension's path,
size, mtime and inode, the packages' versions and LD_LIBRARY_PATH. A key that differs, a record that does not
parse, a load that failed, or doctor --deep: the extensions are loaded again. A passed `mambaenv smoke` loaded
them too and files the same record; a failed one removes it.

Measured against the static alternative (the extension's undefined torch symbols looked up in torch's libraries
with pyelftools): the .gnu.hash lookups take 0.13 s for libtorch_python's 4036 torch symbols against
libtorch_cpu.so (434 MB) and libc10.so (CPU torch 2.13), a full .dynsym scan of libtorch_cpu.so 1.4 s. Fast
enough, but it proves less than a load: a missing libcudart, a symbol version (GLIBCXX_3.4.32) or an error raised
while the module initialises all pass it; the record holds what a real load saw, and costs nothing to read.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from pathlib import Path

from mambaenv.detect.extensions import archs_of, probe_installed
from mambaenv.detect.pyenv import probe_python
from mambaenv.errors import MambaenvError
from mambaenv.packages import TABLE

RECORD_FORMAT = 1
RECORD_DIR = "extensions"  # under mambaenv's cache folder, one file per interpreter


def _stat(path: str | None) -> list | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [path, st.st_size, st.st_mtime_ns, st.st_ino]  # the inode: a file replaced within one mtime tick


def record_key(pyenv) -> dict:
    """What the extensions' load depends on, read from the file-only probe (no torch import)."""
    torch = pyenv.torch or {}
    return {
        "python": os.path.realpath(pyenv.python_path),
        "prefix": pyenv.raw.get("prefix"),
        "torch": torch.get("version"),
        "torch_version_file": _stat(os.path.join(torch["dir"], "version.py")) if torch.get("dir") else None,
        "extensions": {p.extensions[0]: _stat(pyenv.extension(p.extensions[0])) for p in TABLE},
        "packages": {p.name: pyenv.package_version(p.name) for p in TABLE},
        "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
    }


def record_path(cache: Path, pyenv) -> Path:
    """One file per env: a venv's python is a link to the base interpreter, so the env's prefix names it."""
    where = os.path.realpath(pyenv.raw.get("prefix") or pyenv.python_path)
    name = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(cache) / RECORD_DIR / f"{name}.json"


def read_record(cache: Path, pyenv, key: dict) -> dict | None:
    """The record for this key; a damaged record is removed (and answers None) rather than failing doctor."""
    path = record_path(cache, pyenv)
    try:
        record = json.loads(path.read_text())
        valid = _well_formed(record)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        valid = False
    if not valid:
        forget(cache, pyenv)
        return None
    return record if record["key"] == key else None


def _well_formed(record) -> bool:
    """The shape this module writes, down to what from_probe reads of each package."""
    try:
        packages = record["result"]["packages"].values()
        return (record["format"] == RECORD_FORMAT and isinstance(record["key"], dict) and isinstance(record["checked_at"], str)
                and all(isinstance(p["version"], str) and isinstance(p["module"], str) for p in packages))
    except (KeyError, TypeError, AttributeError):
        return False


def write_record(cache: Path, pyenv, key: dict, result: dict, source: str) -> None:
    """Written whole (a temporary file in the same folder, then a rename): a reader never sees half a record."""
    path = record_path(cache, pyenv)
    path.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = {"format": RECORD_FORMAT, "key": key, "checked_at": when, "source": source, "result": result}
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def forget(cache: Path, pyenv) -> None:
    try:
        record_path(cache, pyenv).unlink()
    except FileNotFoundError:
        pass


def loaded_cleanly(result: dict) -> bool:
    """A probe worth remembering: it finished, torch imported and no extension failed to load."""
    torch = result.get("torch") or {}
    packages = (result.get("packages") or {}).values()
    return "error" not in result and bool(torch) and "import_error" not in torch and not any(p.get("load_error") for p in packages)


def with_archs(result: dict) -> dict:
    """Each extension's GPU architectures, read from its file once and kept with the record (the files are 40 MB)."""
    for info in (result.get("packages") or {}).values():
        if info.get("extension") and "sass" not in info:
            info["sass"], info["ptx"] = archs_of(info["extension"])
    return result


def installed_result(pyenv, cache: Path, recheck: bool = False, probe=probe_installed) -> dict:
    """The extension probe's answer: from the record when nothing it rests on changed (then with "checked_at"),
    else from a fresh probe, remembered when every extension loaded."""
    key = record_key(pyenv)  # before the probe: a file changed during it must not be filed under the old key
    if not recheck:
        try:
            record = read_record(cache, pyenv, key)
        except OSError:
            record = None
        if record:
            return dict(record["result"], checked_at=record["checked_at"])
    result = with_archs(probe(pyenv.python_path))
    try:
        if loaded_cleanly(result):
            write_record(cache, pyenv, key, result, "probe")
        else:
            forget(cache, pyenv)
    except OSError:
        pass  # a read-only cache costs the next doctor a probe, nothing more
    return result


def remember_smoke(exe: str, cache: Path, passed: bool) -> None:
    """A passed smoke test imported both extensions and ran their kernels: file what it loaded, as a probe would
    have seen it; a failed one leaves nothing for doctor to trust."""
    try:
        pyenv = probe_python(exe)  # the file-only probe: the key and the paths, without torch
        if passed:
            _file_smoke(pyenv, cache)
        else:
            forget(cache, pyenv)
    except (OSError, MambaenvError):
        pass  # the smoke result stands; the next doctor loads the extensions itself


def _file_smoke(pyenv, cache: Path) -> None:
    torch = pyenv.torch or {}
    packages = {}
    for package, module in ((p.name, p.extensions[0]) for p in TABLE):
        entry = (pyenv.raw.get("packages") or {}).get(package)
        if entry:
            ext = pyenv.extension(module)
            packages[package] = {"version": entry["version"], "dist_info": entry.get("dist_info"), "module": module,
                                 "extension": ext, "loaded_from": ext, "load_error": None}
    result = {"torch": {"version": torch.get("version"), "cuda": torch.get("cuda")}, "packages": packages}
    write_record(cache, pyenv, record_key(pyenv), with_archs(result), "smoke")
