"""doctor in an env where mamba_ssm and causal_conv1d are installed: answered from the record of the last load that
worked, against the same doctor with that record cleared before each run (a forced re-probe: the extensions are
loaded again, which imports torch in the env).

The env: a venv seeing the fixture's real CPU torch 2.13 (a .pth), the real dist-info of both packages (pure-Python
builds of their sdists) and a compiled stand-in extension each whose init imports torch, as the probe finds and
loads a real one. A CPU torch imports in about 1 s here; a CUDA torch on the GPU machine took 4-6 s, so the ratio
measured here is a floor. On a machine where both packages really are installed, name that env instead:
``python benchmarks/bench_doctor_installed.py --python /opt/torch/.venv/bin/python3``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import median, report, time_command  # noqa: E402
from mambaenv.detect.ext_record import RECORD_DIR  # noqa: E402
from tests.fixture_builders import installed_mamba_env  # noqa: E402


def measure(py: Path, cache: Path) -> tuple[float, float]:
    """(median from the record, median with the record cleared before each run) of doctor on ``py``."""
    # --offline and a loopback index: nothing leaves 127.0.0.1
    env = dict(os.environ, MAMBAENV_CACHE_DIR=str(cache), MAMBAENV_INDEX_URL="http://127.0.0.1:9/simple/")
    doctor = [sys.executable, "-m", "mambaenv", "doctor", "--json", "--offline", "--python", str(py)]
    first = subprocess.run(doctor, capture_output=True, text=True, env=env)
    again = subprocess.run(doctor, capture_output=True, text=True, env=env)
    details = [c["detail"] for c in json.loads(again.stdout)["checks"] if c["name"].startswith("installed:")]
    if len(details) != 2 or not all("checked at" in d for d in details) or "checked at" in first.stdout:
        raise SystemExit(f"the record was not used as expected: {details}")
    ours = median(time_command(doctor, env=env, check_rc=(0, 1)))
    clear = lambda: shutil.rmtree(cache / RECORD_DIR, ignore_errors=True)  # noqa: E731
    return ours, median(time_command(doctor, env=env, check_rc=(0, 1), before=clear))


def main(argv: list[str]) -> int:
    """``--python PY``: an env where both packages really are installed (the GPU machine after build and install)."""
    given = Path(argv[argv.index("--python") + 1]) if "--python" in argv else None
    if given is None and shutil.which("gcc") is None:
        print("SKIP  doctor on an installed env: needs gcc for the stand-in extensions", flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-doctor-") as tmp:
        py = given or installed_mamba_env(Path(tmp), torch="real")[0]
        ours, peer = measure(py, Path(tmp) / "cache")
    ok = ours <= 0.5 and peer / ours >= 5
    report(f"mambaenv doctor, both packages installed{' in ' + str(given) if given else ''}, from the record (median of 7)", ours, peer,
           "the same doctor with the record cleared (loads the extensions, imports torch)", "<= 0.5 s and >= 5x", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
