"""explain's bounds: a pathological line and a 200 MB build log, each under 2 s and 200 MB of memory.

- the line `"OSError: " + "OSError: /" * 32000` (320 KB; on f56a8b5 it did not finish in 200 s);
- a 200 MB verbose build log (tests/build_logs.py) with the decisive error in its middle, given with --file and
  piped to standard input (on f56a8b5: 27 s and 1.86 GB).
Each is `python -m mambaenv explain --json` in a child process, run 3 times: the median wall time, and the highest peak
RSS from wait4's rusage (each child's own, not the parent's). The peer is `grep -c error` over the same file, in the
same run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import median, report  # noqa: E402
from tests.build_logs import CAUSE, write_build_log  # noqa: E402

SECONDS, MEGABYTES = 2.0, 200
LOG_SIZE = 200 << 20
RUNS = 3


def run_child(args: list[str], stdin_path: Path | None = None) -> tuple[float, float, bytes]:
    """(seconds, peak RSS in MB, stdout) of one child process."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()
    return seconds, usage.ru_maxrss / 1024, out  # ru_maxrss: KiB on Linux


def measure(name: str, args: list[str], path: Path, expect: str | None, stdin: bool = False) -> bool:
    runs = [run_child(args, path if stdin else None) for _ in range(RUNS)]
    seconds, rss = median([r[0] for r in runs]), max(r[1] for r in runs)
    cause = (json.loads(runs[-1][2]).get("diagnosis") or {}).get("cause")
    peer = median([run_child(["grep", "-c", "error", str(path)])[0] for _ in range(RUNS)])
    ok = seconds < SECONDS and rss < MEGABYTES and cause == expect
    target = f"< {SECONDS:.0f} s, < {MEGABYTES} MB, cause {expect}"
    report(f"{name} (median of {RUNS}): {rss:.0f} MB peak RSS, cause {cause}", seconds, peer, "grep -c error", target, ok)
    return ok


def main() -> int:
    explain = [sys.executable, "-m", "mambaenv", "explain", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        line = Path(tmp) / "line.log"
        line.write_text("OSError: " + "OSError: /" * 32000 + "\n")
        log = Path(tmp) / "build.log"
        with open(log, "w") as out:
            write_build_log(out, LOG_SIZE)
        results = [
            measure("explain --file: one 320 KB line 'OSError: ' + 'OSError: /' * 32000", explain + ["--file", str(line)], line, None),
            measure("explain --file: a 200 MB build log", explain + ["--file", str(log)], log, CAUSE),
            measure("explain < a 200 MB build log (standard input)", explain, log, CAUSE, stdin=True),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
