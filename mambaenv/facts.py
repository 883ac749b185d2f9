"""The facts resolution works from: what a target Python environment holds, as plain data."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass

from packaging.version import InvalidVersion, Version

from mambaenv.errors import BadInput
from mambaenv.upstream import MACHINES


@dataclass(frozen=True)
class TargetEnv:
    """What a wheel must match. Built from a probe, or from flags for another machine."""

    python: str  # "3.8"
    machine: str = "x86_64"
    system: str = "Linux"
    torch: str | None = None  # "2.0.0+cu118" as torch reports it
    torch_cuda: str | None = None  # "11.8"; None for a CPU-only torch
    torch_hip: str | None = None
    cxx11_abi: bool | None = None
    ngc_version: str | None = None  # "25.09" inside an NGC PyTorch container
    cuda_version_env: str | None = None  # the container's CUDA_VERSION, when set
    gpu_caps: tuple[str, ...] = ()  # compute capabilities of the GPUs it runs on ("12.0"); empty: unknown
    glibc: str | None = None  # the host's glibc, when known
    torch_channel: str | None = None  # the conda channel the env's torch came from ("conda-forge"); None: not conda's
    torch_conda: str | None = None  # that conda package, exactly ("pytorch=2.10.0=cuda129_generic_py311_h..._200")

    @property
    def torch_major_minor(self) -> str | None:
        if not self.torch:
            return None
        v = Version(self.torch)
        return f"{v.major}.{v.minor}"

    @property
    def cuda_major(self) -> int | None:
        return int(self.torch_cuda.split(".")[0]) if self.torch_cuda else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """The env a command works for: its facts, and the probe itself when the env is on this machine (None: facts of
    another machine, given as flags or read from a doctor --json file)."""

    env: TargetEnv
    pyenv: object = None  # detect.pyenv.PyEnvFacts, when probed

    @property
    def python(self) -> str | None:
        return self.pyenv.python_path if self.pyenv is not None else None

    def with_gpus(self, caps: tuple[str, ...]) -> "Target":
        return dataclasses.replace(self, env=dataclasses.replace(self.env, gpu_caps=tuple(caps)))


# `--python` as uv reads it: "3.10" or "3.10.4" is a version; anything else is an interpreter (a path or a name on PATH).
_PYTHON_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")


def is_python_version(python: str | None) -> bool:
    """True when ``--python`` names a version rather than an interpreter."""
    return bool(python) and _PYTHON_VERSION.fullmatch(python.strip()) is not None


def check_python_version(text: str) -> str:
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise BadInput(f"malformed Python version {text!r}", "give major.minor, e.g. --python 3.10")
    return f"{int(parts[0])}.{int(parts[1])}"


def check_torch_version(text: str) -> str:
    try:
        v = Version(text)
    except InvalidVersion:
        raise BadInput(f"malformed torch version {text!r}", "give it as torch reports it, e.g. --torch 2.1.2+cu121") from None
    if len(v.release) < 2:
        raise BadInput(f"malformed torch version {text!r}", "give at least major.minor, e.g. --torch 2.1")
    return text


def check_cuda_version(text: str | None) -> str | None:
    if text is None or text.lower() in ("none", "cpu", ""):
        return None
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise BadInput(f"malformed CUDA version {text!r}", "give major.minor as torch.version.cuda says, e.g. 12.1, or 'none'")
    return text


def check_machine(text: str) -> str:
    aliases = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}
    m = aliases.get(text.lower(), text.lower())
    if m not in MACHINES:
        raise BadInput(f"unknown machine {text!r}", f"use one of {', '.join(MACHINES)}")
    return m


def cuda_from_torch_local(torch_version: str) -> str | None:
    """``2.1.2+cu121`` -> ``12.1``; the local tag is how torch wheels name their CUDA."""
    local = Version(torch_version).local or ""
    if local.startswith("cu") and local[2:].isdigit():
        digits = local[2:]
        return f"{digits[:-1]}.{digits[-1]}"
    return None


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # "pass" | "warn" | "fail" | "skip"
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
