"""`make bench`: every benchmark, one run each, ratios against peers measured in the same run."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    names = ("bench_core.py", "bench_doctor_installed.py", "bench_download.py", "bench_wheelhouse.py", "bench_explain.py", "bench_hostile.py")
    codes = [subprocess.call([sys.executable, str(HERE / name)]) for name in names]
    sys.exit(0 if not any(codes) else 1)
