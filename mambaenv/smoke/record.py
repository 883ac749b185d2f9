"""The last smoke result of each env, for doctor: one small record per target interpreter, written whole."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

from mambaenv import jsonshape
from mambaenv.atomic import write_bytes

# A record as record_smoke_result writes it; doctor drops one of any other shape (a damaged record is not fatal)
RECORD_SHAPE = {"python": str, "ok": bool, "?result": (str, None), "?when": str,
                "?steps": [{"?name": (str, None), "?status": (str, None), "?seconds": (int, float, None), "?error": (str, None)}]}


def env_key(python: str) -> str:
    """One record per target interpreter. Not its realpath alone: every venv made from one base Python resolves to the
    same binary; the folder it is called from (venv/bin) tells the envs apart, the binary tells python3.10 from 3.12."""
    exe = os.path.abspath(python)
    identity = f"{os.path.realpath(os.path.dirname(exe))}|{os.path.realpath(exe)}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def smoke_record_path(cache_dir: Path, python: str) -> Path:
    return Path(cache_dir) / "smoke" / f"{env_key(python)}.json"


def record_smoke_result(result: dict, cache_dir: Path, python: str | None = None) -> Path:
    """<cache>/smoke/<env key>.json = {"python", "ok", "result", "when", "steps"}: doctor shows the last smoke result of
    the env it examines. Written whole (temporary file, then rename)."""
    python = python or result.get("python") or "unknown"
    path = smoke_record_path(cache_dir, python)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [{k: s.get(k) for k in ("name", "status", "seconds", "error")} for s in result.get("steps", [])]
    record = {"python": python, "ok": result.get("result") == "passed", "result": result.get("result"),
              "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "steps": steps}
    write_bytes(path, json.dumps(record, indent=1).encode())
    return path


def last_smoke_result(cache_dir: Path, python: str) -> dict | None:
    """The last smoke record of this interpreter's env, or None (none yet, or a damaged one: dropped)."""
    path = smoke_record_path(cache_dir, python)
    try:
        record = jsonshape.loads(jsonshape.read_file(path, str(path), 1 << 20), str(path))
    except (OSError, ValueError):
        return None
    if jsonshape.problem(record, RECORD_SHAPE) or env_key(record["python"]) != env_key(python):
        return None
    return record
