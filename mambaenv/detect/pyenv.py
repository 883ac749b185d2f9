"""Probe a target Python environment in a subprocess; mambaenv never imports torch itself."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mambaenv.errors import MambaenvError
from mambaenv.facts import TargetEnv, is_python_version

PROBE_TIMEOUT_S = 60

# A pyenv shim that points at a version which is not active (pyenv's own words; uv quotes them too).
PYENV_SHIM = re.compile(r"pyenv: (\S+): command not found\s+The `\S+' command exists in these Python versions:\s+(\S+)")

# The one seam for what cannot exist on a machine without a GPU: tests (and people preparing an env
# on a CPU-only build machine) may declare that the env's torch stands for a CUDA build.
ASSUME_TORCH_CUDA = "MAMBAENV_ASSUME_TORCH_CUDA"


@dataclass
class PyEnvFacts:
    """What the probe found in the target env, plus where it came from."""

    python_path: str
    raw: dict = field(default_factory=dict)

    @property
    def python_version(self) -> str:
        return ".".join(self.raw["python"].split(".")[:2])

    @property
    def torch(self) -> dict | None:
        return self.raw.get("torch")

    @property
    def deep(self) -> dict | None:
        return self.raw.get("deep")

    def package_version(self, name: str) -> str | None:
        entry = self.raw.get("packages", {}).get(name)
        return entry["version"] if entry else None

    def extension(self, module: str) -> str | None:
        return self.raw.get("extensions", {}).get(module)

    @property
    def cxx11_abi(self) -> bool | None:
        deep = self.deep or {}
        if "cxx11_abi" in deep:
            return deep["cxx11_abi"]
        return (self.torch or {}).get("cxx11_abi")

    def target(self, env_vars: dict | None = None) -> TargetEnv:
        env_vars = os.environ if env_vars is None else env_vars
        t = self.torch or {}
        ngc = env_vars.get("NVIDIA_PYTORCH_VERSION") if env_vars.get("NVIDIA_PRODUCT_NAME") == "PyTorch" else None
        cuda = t.get("cuda") or (env_vars.get(ASSUME_TORCH_CUDA) if t.get("version") else None)
        conda = self.raw.get("conda_torch") or {}
        return TargetEnv(
            python=self.python_version,
            machine=self.raw.get("machine", ""),
            system=self.raw.get("system", ""),
            torch=t.get("version"),
            torch_cuda=cuda,
            torch_hip=t.get("hip"),
            cxx11_abi=self.cxx11_abi,
            ngc_version=ngc,
            cuda_version_env=env_vars.get("CUDA_VERSION") if ngc else None,
            torch_channel=conda.get("channel"),
            torch_conda="=".join((conda["name"], conda["version"], conda["build"])) if conda.get("version") and conda.get("build") else None,
        )

    def to_dict(self) -> dict:
        return {"python_path": self.python_path, **self.raw}


def probe_source() -> str:
    """probe_script.py with the package table written in (it runs in the target env and cannot import mambaenv)."""
    from mambaenv.packages import TABLE  # start-up: only a probe needs the table

    text = resources.files("mambaenv.detect").joinpath("probe_script.py").read_text()
    table = {p.name: p.extensions[0] for p in TABLE}
    return text.replace("\nEXTENSIONS = {}\n", f"\nEXTENSIONS = {table!r}\n", 1)


def python_of_env(env: str) -> str:
    """The interpreter of a conda env name, an env prefix, or a venv directory."""
    candidates = []
    path = Path(env).expanduser()
    if path.is_dir():
        candidates.append(path)
    else:
        for base in filter(None, (os.environ.get("CONDA_PREFIX"), os.environ.get("MAMBA_ROOT_PREFIX"), os.environ.get("CONDA_ROOT"))):
            root = Path(base)
            if root.parent.name == "envs":
                root = root.parent.parent
            candidates.append(root / "envs" / env)
        for root in (Path.home() / "miniconda3", Path.home() / "anaconda3", Path.home() / "miniforge3", Path.home() / "micromamba"):
            candidates.append(root / "envs" / env)
    for prefix in candidates:
        for rel in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe"):
            exe = prefix / rel
            if exe.exists():
                return str(exe)
    raise MambaenvError(f"no Python environment named {env!r}", "give a conda env name, an env prefix or a venv path, or use --python PATH")


def default_python() -> str:
    """The active env first (a venv or conda env), then ``python`` on PATH, then mambaenv's own."""
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = os.environ.get(var)
        if prefix:
            exe = Path(prefix) / "bin" / "python"
            if exe.exists():
                return str(exe)
    return shutil.which("python") or shutil.which("python3") or sys.executable


def choose_python(python: str | None, env: str | None) -> str:
    if python and env:
        raise MambaenvError("--python and --env both given", "use one of them")
    if env:
        return python_of_env(env)
    if python and is_python_version(python):  # uv's reading: a version finds that interpreter on PATH
        major_minor = ".".join(python.split(".")[:2])
        exe = shutil.which(f"python{major_minor}")
        if not exe:
            raise MambaenvError(f"no Python {major_minor} interpreter on PATH", "give its path with --python PATH, or --env NAME")
        return exe
    if python:
        exe = shutil.which(python) or python
        if not Path(exe).exists():
            raise MambaenvError(f"no Python interpreter at {python!r}", "give the path of an existing python, e.g. --python ~/envs/x/bin/python")
        if Path(exe).is_dir():
            raise MambaenvError(f"{python} is a folder, not an interpreter", f"give {Path(python) / 'bin' / 'python'}, or --env {python}")
        if not os.access(exe, os.X_OK):
            raise MambaenvError(f"{python} is not an executable interpreter", "give the path of a python, e.g. --python ~/envs/x/bin/python")
        return exe
    return default_python()


def probe_python(python: str, deep: bool = False, timeout: float = PROBE_TIMEOUT_S) -> PyEnvFacts:
    args = [python, "-c", probe_source()]
    if deep:
        args.append("--deep")
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except OSError as e:  # missing, not executable, not a program for this machine
        raise MambaenvError(f"cannot run {python!r} ({e.strerror or e})", "give the path of a python, e.g. --python ~/envs/x/bin/python") from None
    except subprocess.TimeoutExpired:
        raise MambaenvError(f"probing {python} took over {timeout:.0f} s", "try again without --deep, or check that the interpreter starts") from None
    if proc.returncode != 0:
        shim = PYENV_SHIM.search(proc.stderr)
        if shim:
            exe, version = shim.groups()
            raise MambaenvError(f"{python} is a pyenv shim for Python {version}, which is not active in this shell",
                                f"activate it (pyenv shell {version}) or give --python {Path.home() / '.pyenv' / 'versions' / version / 'bin' / exe}")
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MambaenvError(f"probing {python} failed: {last}", "check that this interpreter starts; the probe needs Python 3.7 or newer")
    return PyEnvFacts(python, json.loads(proc.stdout))
