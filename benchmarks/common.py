"""Timing helpers shared by the benchmarks: each benchmark measures mambaenv and a peer in one run."""
from __future__ import annotations

import statistics
import subprocess
import time


def time_command(args: list[str], runs: int = 7, env: dict | None = None, check_rc: tuple[int, ...] | None = None,
                 before=None) -> list[float]:
    """Wall seconds of each run; ``before()``, when given, runs ahead of each one, off the clock."""
    out = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        out.append(time.perf_counter() - t0)
        if check_rc is not None and proc.returncode not in check_rc:
            raise SystemExit(f"{args[:3]} exited {proc.returncode}")
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def report(name: str, ours: float, peer: float | None, peer_name: str | None, target: str, ok: bool) -> str:
    ratio = f"  ratio {peer / ours:.1f}x vs {peer_name} ({peer:.3f} s)" if peer else ""
    line = f"{'PASS' if ok else 'MISS'}  {name}: {ours:.3f} s{ratio}  target: {target}"
    print(line, flush=True)
    return line
