"""doctor vs torch's collect_env; resolve --offline against the bare CLI start; --help vs pip --help."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import median, report, time_command  # noqa: E402
from tests.fixture_builders import ensure_torch_venv  # noqa: E402


def main() -> int:
    py = str(ensure_torch_venv())
    mambaenv = [sys.executable, "-m", "mambaenv"]
    # --offline: the package-index freshness check would leave 127.0.0.1
    doctor = median(time_command(mambaenv + ["doctor", "--json", "--offline", "--python", py], check_rc=(0, 1)))
    peer = median(time_command([py, "-m", "torch.utils.collect_env"], check_rc=(0,)))
    ok1 = doctor <= 0.5 and peer / doctor >= 3
    report("mambaenv doctor --json --python <torch venv> (median of 7)", doctor, peer, "python -m torch.utils.collect_env", "<= 0.5 s and >= 3x", ok1)
    # the catalog is data to load (precomputed by tools/regen_catalog.py), not a matrix to expand;
    # the peer is the interpreter starting the same CLI for --version: what resolve adds on top of it
    res = median(time_command(mambaenv + ["resolve", "--offline", "--python", "3.10", "--torch", "2.1.2+cu121", "--cxx11abi", "false"], check_rc=(0,)))
    start = median(time_command(mambaenv + ["--version"], check_rc=(0,)))
    ok2 = res <= 0.25
    report("mambaenv resolve --offline (median of 7)", res, start, "python -m mambaenv --version", "<= 0.25 s", ok2)
    # Start-up: the front door must stay light (typer, rich, the error table; nothing that downloads or probes).
    helps = median(time_command(mambaenv + ["--help"], check_rc=(0,)))
    pip_help = median(time_command([sys.executable, "-m", "pip", "--help"], check_rc=(0,)))
    ok3 = helps <= 0.4 and pip_help / helps >= 1
    report("mambaenv --help (median of 7)", helps, pip_help, "python -m pip --help", "<= 0.4 s and no slower than pip --help", ok3)
    return 0 if ok1 and ok2 and ok3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
