"""Run the kernel smoke test inside a target env and explain what failed."""
from __future__ import annotations

import json
import subprocess
from importlib import resources

from mambaenv.errors import MambaenvError
from mambaenv.explain import explain

EXIT_NO_DEVICE = 3


def smoke_source() -> str:
    return resources.files("mambaenv.smoke").joinpath("smoke_script.py").read_text()


def run_smoke(python: str, bench: bool = False, timeout: float = 600) -> tuple[int, dict]:
    args = [python, "-c", smoke_source()] + (["--bench"] if bench else [])
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
    return proc.returncode, result


def record_smoke_result(result: dict, cache_dir, python: str | None = None) -> None:
    """Keep the last result where doctor reads it: <cache>/smoke/last.json; written whole or not at all."""
    import datetime
    import os
    from pathlib import Path

    folder = Path(cache_dir) / "smoke"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"python": python or result.get("python"), "ok": result.get("result") == "passed", "result": result.get("result"),
              "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "steps": [{k: s.get(k) for k in ("name", "status", "seconds", "error")} for s in result.get("steps", [])]}
    tmp = folder / ".last.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, folder / "last.json")
