"""A second machine of the lab: install both packages from the lab's wheelhouse vs rebuild them from the sdists.

Each run starts from a fresh venv holding only torch (made before the clock starts, the same for both).
- ours: `mambaenv install --python ENV --wheelhouse http://127.0.0.1:PORT --no-deps` (the wheelhouse was written
  by `mambaenv publish` and is served by a plain static HTTP server on loopback);
- peer: what that machine does without a wheelhouse: `pip wheel --no-build-isolation --no-deps` of the real sdists,
  then `pip install --no-deps` of the built wheels.
The peer here is a PURE-PYTHON rebuild (MAMBA_SKIP_CUDA_BUILD / CAUSAL_CONV1D_SKIP_CUDA_BUILD): this machine has no
CUDA compiler, so the peer skips the part that makes a real rebuild take minutes. The measured ratio is therefore
a floor; a second line prices the rebuild with the CUDA build times the project measured on one H200 (sm_90 only,
mamba_ssm 2.3.2.post1 162 s, causal_conv1d 1.7.0 369 s), clearly labelled as not measured in this run.
"""
from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402
from tests.fixture_builders import SDISTS, ensure_torch_venv, fixture_wheel, wheelhouse  # noqa: E402

RUNS = 3
PACKAGES = (("mamba_ssm", "2.2.4", "MAMBA"), ("causal_conv1d", "1.5.0.post8", "CAUSAL_CONV1D"))
H200_CUDA_BUILD_S = 162 + 369  # measured on an H200 by the project (not here), sm_90 only, one build after the other
SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: this CPU torch stands for a CUDA 12 build


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return dict(env, PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", PIP_DISABLE_PIP_VERSION_CHECK="1")


def fresh_torch_env(path: Path) -> Path:
    from uv import find_uv_bin

    uv = find_uv_bin()
    subprocess.run([uv, "venv", "-q", "--seed", "--python", sys.executable, str(path)], check=True, env=clean_env())
    py = path / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(py), "--no-index", "--find-links", str(wheelhouse()), "torch"],
                   check=True, env=clean_env())
    return py


def timed(args, env) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args[:6]))} failed: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def ours(house_url: str, py: Path) -> float:
    return timed([sys.executable, "-m", "mambaenv", "install", "--python", str(py), "--wheelhouse", house_url, "--no-deps", "--json"],
                 dict(clean_env(), **SEAM))


def rebuild(py: Path, out: Path) -> float:
    """Build both sdists with the env's own pip (build tools preinstalled, not timed), then install the wheels."""
    builder = ensure_torch_venv()  # holds setuptools/wheel/ninja from the fixture builds
    t0 = time.perf_counter()
    for package, version, prefix in PACKAGES:
        env = dict(clean_env(), **{f"{prefix}_FORCE_BUILD": "TRUE", f"{prefix}_SKIP_CUDA_BUILD": "TRUE"})
        timed([str(builder), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-w", str(out),
               str(SDISTS / f"{package}-{version}.tar.gz")], env)
    timed([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, sorted(out.glob("*.whl")))], clean_env())
    return time.perf_counter() - t0


def main() -> int:
    wheels = [fixture_wheel(p, v) for p, v, _ in PACKAGES]
    with tempfile.TemporaryDirectory(prefix="mambaenv-bench-wh-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "mambaenv", "publish", *map(str, wheels), "--to", str(tmp / "house"), "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        httpd = _QuietServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp / "house")))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            ours_s, peer_s = [], []
            for i in range(RUNS):
                ours_s.append(ours(url, fresh_torch_env(tmp / f"node-a{i}")))
                build_dir = tmp / f"build{i}"
                peer_s.append(rebuild(fresh_torch_env(tmp / f"node-b{i}"), build_dir))
                shutil.rmtree(tmp / f"node-a{i}")
                shutil.rmtree(tmp / f"node-b{i}")
        finally:
            httpd.shutdown()
            httpd.server_close()
    o, p = statistics.median(ours_s), statistics.median(peer_s)
    ok = p / o >= 2
    report(f"second machine: mambaenv install --wheelhouse (loopback index, median of {RUNS})", o, p,
           "pure-Python rebuild of both sdists + pip install (NO CUDA compile: none possible here)", ">= 2x vs the pure-Python rebuild", ok)
    print(f"INFO  priced, not measured: a CUDA rebuild on an H200 (sm_90 only) takes about {H200_CUDA_BUILD_S} s for both packages; "
          f"against this install that is about {H200_CUDA_BUILD_S / o:.0f}x", flush=True)
    return 0 if ok else 1


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client closing after a range probe is not news


if __name__ == "__main__":
    raise SystemExit(main())
