"""install: the planned wheels (or an offline source) into a new or existing env, checked first, torch pinned."""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mambaenv.bundle import open_offline_source
from mambaenv.config import cache_dir
from mambaenv.detect.host import detect_glibc, native_gpu_caps
from mambaenv.detect.pyenv import choose_python
from mambaenv.download import fetch_to
from mambaenv.envs import conda
from mambaenv.errors import BadInput, MambaenvError
from mambaenv.facts import check_cuda_version, is_python_version
from mambaenv.fix_target import aim_fix, named_target
from mambaenv.install import InstallResult, NewEnv, install
from mambaenv.packages import DEFAULT
from mambaenv.plan import FILE_ORIGINS, INSTALLABLE, ORIGINS, PackagePlan, Plan, PlanRequest, plan
from mambaenv.render import status_line
from mambaenv.target import Target
from mambaenv.upstream import cuda_of_torch_index, torch_index_for


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
    reinstall: bool = False  # an installed build that fits is replaced too
    no_third_party: bool = False


def install_plan(pyenv, req: InstallRequest, offline: bool = False) -> Plan:
    """The plan for the env as probed (a new env has its torch by then); its wheels must run on the GPUs here.
    ``offline``: the shipped catalog and local builds only (an offline source's refusal asks nothing of the network)."""
    target = Target(dataclasses.replace(pyenv.target(), gpu_caps=native_gpu_caps()), pyenv)
    origins = INSTALLABLE if req.reinstall else ORIGINS
    if offline:
        return plan(PlanRequest(target, DEFAULT, offline=True, origins=origins, cache=cache_dir(), third_party=not req.no_third_party))
    return plan(PlanRequest.configured(target, DEFAULT, wheelhouses=req.wheelhouses, no_third_party=req.no_third_party, origins=origins))


def right_file(packages: list[PackagePlan]):
    """The fix of a refused wheel, from the plan: the file that fits, or why none does."""
    def hint(package: str) -> str | None:
        p = next((x for x in packages if x.package == package), None)
        if p is None:
            return None
        if p.chosen is not None and p.chosen.filename:
            return f"the right file is {p.chosen.filename} (or --force to install anyway)"
        return f"no prebuilt wheel fits it ({p.reason}); see mambaenv doctor (or --force to install anyway)"
    return hint


def install_cmd(req: InstallRequest) -> InstallResult:
    links = [Path(p) for p in req.find_links]
    status_cb, ctx = status_line(req.quiet)
    answer: dict = {}  # the plan, once made: where each wheel came from, and the refusal's fix
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-src-") as tmp:
        if req.offline_wheel:
            wheels, extra = open_offline_source(Path(req.offline_wheel), Path(tmp))
            links += extra
            offline, resolver = True, None
        else:
            def resolver(pyenv):
                p = answer["plan"] = install_plan(pyenv, req)
                chosen = p.require()
                files = [fetch_to(w.url, tmp, sha256=w.sha256, size=w.size, mirrors=req.mirrors, show_progress=not req.quiet)[1]
                         for w in chosen if w.origin in FILE_ORIGINS]
                return files, [w.requirement for w in chosen if w.origin == "conda-forge"]

            wheels, offline = [], req.no_index
        target = None if req.new_env else choose_python(req.python, req.env)
        named = None if req.new_env else named_target(req.python, req.env, target)  # another env than the active one
        try:
            result = install(wheels, python=target, new_env=req.new_env, find_links=links, offline=offline, index_url=req.index_url,
                             force=req.force, host_glibc=detect_glibc(), status=status_cb, no_deps=req.no_deps, resolve=resolver,
                             right_file=lambda package, pyenv: _refusal_fix(answer, req, package, pyenv))
        except MambaenvError as e:  # its fix names the env this install was pointed at, as doctor's do
            e.fix = aim_fix(e.fix, named)
            raise
        result.sources = [p.source_record() for p in answer["plan"].packages] if "plan" in answer else []
        return result


def _refusal_fix(answer: dict, req: InstallRequest, package: str, pyenv) -> str | None:
    """The plan's answer for a refused wheel; for an offline source the plan is made now, from the shipped catalog."""
    if "plan" not in answer and "hint" not in answer:  # made once, kept out of the answer's sources
        answer["hint"] = install_plan(pyenv, dataclasses.replace(req, reinstall=True), offline=True)
    return right_file((answer.get("plan") or answer["hint"]).packages)(package)


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
