"""Run the kernel smoke test inside a target env and explain what failed."""
from __future__ import annotations

import json
import subprocess
from importlib import resources

from mambaenv.errors import MambaenvError
from mambaenv.smoke.record import last_smoke_result, record_smoke_result  # noqa: F401  (the smoke family's record)


def smoke_source() -> str:
    return resources.files("mambaenv.smoke").joinpath("smoke_script.py").read_text()


def run_smoke(python: str, bench: bool = False, timeout: float = 600, full_autotune: bool = False) -> tuple[int, dict]:
    from mambaenv.explain import explain  # start-up: doctor reads smoke records (this package) without the explainer

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
