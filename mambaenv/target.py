"""The target env a command works for: probed from an interpreter (once per command), or built from explicit facts for
another machine."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mambaenv.errors import BadInput
from mambaenv.facts import (
    Target,
    TargetEnv,
    check_cuda_version,
    check_machine,
    check_python_version,
    check_torch_version,
    cuda_from_torch_local,
    is_python_version,
)


def parse_bool(text: str | None, flag: str) -> bool | None:
    if text is None:
        return None
    t = text.lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise BadInput(f"malformed {flag} value {text!r}", f"use {flag} true or {flag} false")


def explicit_target(python: str, torch: str, torch_cuda: str | None, cxx11abi: str | None, machine: str, ngc: str | None) -> TargetEnv:
    torch = check_torch_version(torch)
    said = cuda_from_torch_local(torch)
    cuda = check_cuda_version(torch_cuda) if torch_cuda is not None else said
    if said and torch_cuda is not None and (cuda or "").split(".")[:2] != said.split(".")[:2]:
        # two facts that cannot both hold: picking either would name a wheel for the wrong CUDA
        raise BadInput(f"--torch {torch} says CUDA {said} but --torch-cuda is {torch_cuda}",
                       "drop --torch-cuda (the +cuXYZ tag is torch's CUDA) or give the torch version without its +cu tag")
    abi = parse_bool(cxx11abi, "--cxx11abi")
    if abi is None:
        # Never guess the ABI from the version alone; without the flag, say so.
        raise BadInput("--cxx11abi is required with explicit facts", "run python -c 'import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)' on that machine")
    return TargetEnv(python=check_python_version(python), machine=check_machine(machine), torch=torch,
                     torch_cuda=cuda, cxx11_abi=abi, ngc_version=ngc, cuda_version_env=cuda if ngc else None)


def probed(python: str, deep: bool = False, gpu_caps: tuple[str, ...] | None = None) -> Target:
    """Probe the interpreter (the one probe of a command) for an env on this machine; its wheels must run on the GPUs
    here (``gpu_caps``, or NVML's answer when None)."""
    from mambaenv.detect.host import native_gpu_caps  # start-up: resolve with explicit facts never probes
    from mambaenv.detect.pyenv import probe_python

    pyenv = probe_python(python, deep)
    caps = native_gpu_caps() if gpu_caps is None else gpu_caps
    return Target(dataclasses.replace(pyenv.target(), gpu_caps=tuple(caps)), pyenv)


def gpu_caps_from(text: str | None) -> tuple[str, ...] | None:
    """``--gpu-arch``: ``native`` (the GPUs here), a list like ``12.0,8.6`` / ``sm_120``; None when not given."""
    if not text:
        return None
    if text == "native":
        from mambaenv.detect.host import native_gpu_caps  # start-up: NVML loads only when this machine's GPUs matter

        return native_gpu_caps()
    from mambaenv.compat import sm  # start-up: only a --gpu-arch list needs it

    caps = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            n = sm(part)
        except ValueError:
            raise BadInput(f"malformed GPU architecture {part!r}", "give compute capabilities like 12.0,8.6 or sm_120, or native") from None
        caps.append(f"{n // 10}.{n % 10}")
    return tuple(caps)


def target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc, gpu_arch: str | None = None) -> Target:
    """Explicit facts when ``--torch`` is given (``--python`` is then a version); else probe the interpreter.

    ``gpu_arch`` (``--gpu-arch``): the GPUs a wheel's code must run on; unset, a probed env's are the GPUs here and
    explicit facts name none (not checked)."""
    caps = gpu_caps_from(gpu_arch)
    if torch is not None:
        if not python:
            raise BadInput("--torch needs --python VERSION", "add e.g. --python 3.10")
        if not is_python_version(python):
            raise BadInput(f"--python {python} is an interpreter, but --torch asks for explicit facts",
                           "give --python a version such as 3.10 with --torch, or drop --torch to probe that interpreter")
        return Target(explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)).with_gpus(caps or ())
    from mambaenv.detect.pyenv import choose_python  # start-up: resolve with explicit facts never probes

    if is_python_version(python):
        raise BadInput(f"--python {python} is a version, which needs the other facts too",
                       "add --torch VERSION --torch-cuda X.Y --cxx11abi true|false, or give --python an interpreter path")
    return probed(choose_python(python, env), gpu_caps=caps)


@dataclass(frozen=True)
class TargetArgs:
    """The facts flags resolve, download and bundle share, as typed: explicit facts for another machine, or an env to probe."""

    python: str | None = None  # a version (explicit facts, with torch) or an interpreter path
    env: str | None = None
    torch: str | None = None
    torch_cuda: str | None = None
    cxx11abi: str | None = None  # "true"/"false" as typed; parse_bool reads it
    machine: str = "x86_64"
    ngc: str | None = None
    gpu_arch: str | None = None  # --gpu-arch as typed

    @property
    def explicit(self) -> bool:
        return self.torch is not None

    def resolve(self) -> Target:
        """The target: explicit facts, or the interpreter probed (once: keep the answer)."""
        return target_from_args(self.python, self.env, self.torch, self.torch_cuda, self.cxx11abi, self.machine, self.ngc, self.gpu_arch)


def target_from_doctor_file(path: str) -> tuple[Target, str | None]:
    """The target facts a ``doctor --json`` file recorded on the server, and that server's interpreter."""
    import json  # start-up: only a bundle --from reads a doctor file
    from pathlib import Path

    fix = "run mambaenv doctor --json > doctor.json on the server and copy it here"
    if not Path(path).is_file():
        raise BadInput(f"--from {path}: no such file", fix)
    try:
        data = json.loads(Path(path).read_text())
        env = TargetEnv(**{k: tuple(v) if k == "gpu_caps" else v for k, v in data["target"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise BadInput(f"{path} is not a mambaenv doctor --json file", fix) from None
    python = (data.get("pyenv") or {}).get("python_path") if isinstance(data.get("pyenv"), dict) else None
    return Target(env), python if isinstance(python, str) else None
