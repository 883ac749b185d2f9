"""Run the kernel smoke test inside a target env and explain what failed."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from mambaenv.errors import MambaenvError
from mambaenv.explain import explain


def smoke_source() -> str:
    return resources.files("mambaenv.smoke").joinpath("smoke_script.py").read_text()


def run_smoke(python: str, bench: bool = False, timeout: float = 600, full_autotune: bool = False) -> tuple[int, dict]:
    args = [python, "-c", smoke_source()] + (["--bench"] if bench else []) + (["--full-autotune"] if full_autotune else [])
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MambaenvError(f"the smoke test ran over {timeout:.0f} s", "check the GPU with nvidia-smi; a Triton compile can take minutes once") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        text = proc.stderr or proc.stdout
        diag = explain(text)
        raise MambaenvError("the smoke test crashed: " + (diag.summary if diag else (text.strip().splitlines() or ["no output"])[-1]),
                            diag.fix if diag else "run it again with --json to see the output")
    result = json.loads(lines[-1])
    for step in result["steps"]:
        if step["status"] == "fail":
            d = explain((step.get("error") or "") + "\n" + (step.get("traceback") or ""))
            step["diagnosis"] = d.to_dict() if d else None
    result["stderr_tail"] = proc.stderr[-2000:]
    result["python"] = python
    return proc.returncode, result


def record_smoke_result(result: dict, cache_dir: Path, python: str | None = None) -> Path:
    """<cache>/smoke/last.json = {"python", "ok", "result", "when", "steps"}: doctor shows the last smoke result.
    Written whole (temporary file, then rename)."""
    folder = Path(cache_dir) / "smoke"
    folder.mkdir(parents=True, exist_ok=True)
    steps = [{k: s.get(k) for k in ("name", "status", "seconds", "error")} for s in result.get("steps", [])]
    record = {"python": python or result.get("python"), "ok": result.get("result") == "passed", "result": result.get("result"),
              "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "steps": steps}
    fd, tmp = tempfile.mkstemp(prefix=".last-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, folder / "last.json")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder / "last.json"
