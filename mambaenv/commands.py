"""Command bodies: gather facts, call the pure parts, return data for the CLI to render."""
from __future__ import annotations

from mambaenv.catalog import load_catalog, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput
from mambaenv.facts import TargetEnv, check_cuda_version, check_machine, check_python_version, check_torch_version, cuda_from_torch_local
from mambaenv.resolve import resolve_all
from mambaenv.wheelname import PACKAGES


def doctor(python: str | None, env: str | None, deep: bool = False, offline: bool = False, with_docker: bool = True) -> dict:
    from mambaenv.detect.host import detect_host
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.doctor import doctor_checks, has_working_path

    exe = choose_python(python, env)
    pyenv = probe_python(exe, deep=deep)
    host = detect_host(with_docker=with_docker)
    catalog = load_catalog(cache_dir(), offline=offline)
    target = pyenv.target()
    choices = resolve_all(catalog, target)
    checks = doctor_checks(host, pyenv, choices)
    ok = has_working_path(checks, choices)
    return {
        "ok": ok,
        "checks": checks,
        "choices": choices,
        "json": {
            "ok": ok,
            "host": host.to_dict(),
            "pyenv": pyenv.to_dict(),
            "target": target.to_dict(),
            "checks": [c.to_dict() for c in checks],
            "packages": [c.to_dict() for c in choices],
        },
    }


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
    cuda = check_cuda_version(torch_cuda) if torch_cuda is not None else cuda_from_torch_local(torch)
    abi = parse_bool(cxx11abi, "--cxx11abi")
    if abi is None:
        # Never guess the ABI from the version alone; without the flag, say so.
        raise BadInput("--cxx11abi is required with explicit facts", "run python -c 'import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)' on that machine")
    return TargetEnv(python=check_python_version(python), machine=check_machine(machine), torch=torch,
                     torch_cuda=cuda, cxx11_abi=abi, ngc_version=ngc, cuda_version_env=cuda if ngc else None)


def target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc) -> TargetEnv:
    if torch is not None:
        if not python:
            raise BadInput("--torch needs --python VERSION", "add e.g. --python 3.10")
        return explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)
    from mambaenv.detect.pyenv import choose_python, probe_python

    return probe_python(choose_python(python, env)).target()


def resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline):
    if package != "all" and package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    target = target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc)
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return resolve_all(catalog, target, package, package_version)


def catalog_refresh(api: str | None) -> dict:
    from mambaenv.catalog.github import refresh

    return refresh(cache_dir(), {p: repo_of(p) for p in PACKAGES}, api)


def catalog_list(package: str, offline: bool) -> list[dict]:
    if package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)}")
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return [{"tag": r.tag, "package_version": r.package_version, "era": r.era, "date": r.date,
             "wheels": len(wheels_of(r)), "no_wheels_reason": r.no_wheels_reason} for r in catalog.for_package(package)]
