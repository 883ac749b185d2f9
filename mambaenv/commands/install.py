"""install: the wheels (resolved and downloaded, or an offline source) into a new or existing env, torch pinned."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mambaenv.build_cache import cached_wheels_for_target
from mambaenv.commands.status import status_line
from mambaenv.commands.wheels import SOURCE_KEYS, resolved_wheels
from mambaenv.config import cache_dir
from mambaenv.detect.host import detect_glibc
from mambaenv.detect.pyenv import choose_python, probe_python
from mambaenv.download import fetch_to
from mambaenv.envs import conda
from mambaenv.errors import BadInput, MambaenvError
from mambaenv.facts import check_cuda_version, is_python_version
from mambaenv.fix_target import aim_fix, named_target
from mambaenv.install import InstallResult, NewEnv, install, open_offline_source
from mambaenv.target import TargetArgs
from mambaenv.upstream import PACKAGES, cuda_of_torch_index, torch_index_for


@dataclass(frozen=True)
class InstallRequest:
    offline_wheel: str | None = None  # a .whl, a folder of wheels, or a bundle: no network at all
    new_env: NewEnv | None = None  # from new_env_spec (--new-env and the flags that describe it)
    env: str | None = None
    python: str | None = None  # the target env's interpreter (not with new_env: that one is in new_env)
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False
    force: bool = False
    no_deps: bool = False
    mirrors: tuple[str, ...] = ()
    quiet: bool = False
    wheelhouses: tuple[str, ...] = ()


def install_cmd(req: InstallRequest) -> InstallResult:
    links = [Path(p) for p in req.find_links]
    status_cb, ctx = status_line(req.quiet)
    sources: list[dict] = []  # where each resolved wheel came from (wheelhouse or catalog), for the answer
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-src-") as tmp:
        if req.offline_wheel:
            wheels, extra = open_offline_source(Path(req.offline_wheel), Path(tmp))
            links += extra
            offline = True
            resolver = None
        else:
            def resolver(py):
                """For the env as it is now (a new env has its torch by then): a local build made for it (mambaenv
                build, kept in the cache) first, else resolve and download."""
                local = cached_wheels_for_target(probe_python(py).target(), cache_dir())
                found = []
                for package in PACKAGES:
                    if local.get(package):
                        sources.append({"package": package, "file": local[package].name, "source": "local-build", "wheelhouse": None})
                        found.append(local[package])
                        continue
                    choices = resolved_wheels(package, TargetArgs(python=py), False, list(req.wheelhouses))
                    sources.extend(c.to_dict() for c in choices)
                    found += [fetch_to(c.wheel.url, Path(tmp), c.wheel.sha256, c.wheel.size, list(req.mirrors), None, not req.quiet)[1]
                              for c in choices]
                return found

            wheels, offline = [], req.no_index
        target = None if req.new_env else choose_python(req.python, req.env)
        named = None if req.new_env else named_target(req.python, req.env, target)  # another env than the active one
        try:
            result = install(wheels, python=target, new_env=req.new_env, find_links=links, offline=offline, index_url=req.index_url,
                             force=req.force, host_glibc=detect_glibc(), status=status_cb, no_deps=req.no_deps, resolve_wheels=resolver)
        except MambaenvError as e:  # its fix names the env this install was pointed at, as doctor's do
            e.fix = aim_fix(e.fix, named)
            raise
        result.sources = [{k: s.get(k) for k in SOURCE_KEYS} for s in sources]
        return result


def new_env_spec(target, python, torch, torch_index, torch_cuda, venv_only, conda_forge, env=None) -> NewEnv:
    """--new-env's facts: ``--python`` is the new env's version (or, for a venv, the interpreter to base it on);
    torch's CUDA comes from --torch-cuda or the torch index URL (``.../cu128``), and picks that index for pip.
    ``env``: --env, which cannot go with --new-env."""
    if env:
        raise MambaenvError("--new-env cannot go with --env", "pick one target: a new env, or an existing one")
    version, base = (python, None) if is_python_version(python) else (None, python)
    if base and not venv_only and conda.find_frontend():
        raise BadInput(f"a conda env takes a Python version, not the interpreter {base}", "give --python 3.11, or add --venv to base a venv on it")
    cuda = None
    if torch_cuda is not None:
        cuda = check_cuda_version(torch_cuda) or "none"
    elif torch_index:
        said = cuda_of_torch_index(torch_index)
        cuda = None if said is False else (said or "none")
    if torch and cuda and not torch_index:
        torch_index = torch_index_for(None if cuda == "none" else cuda)
    return NewEnv(target, version, torch, torch_index, base_python=base, use_conda=False if venv_only else None,
                  torch_cuda=cuda, conda_forge=conda_forge)
