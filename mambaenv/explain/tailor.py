"""Make a diagnosis's fix concrete with the target env's facts: the exact wheel, the toolkit version, the matching package.

Only facts probed from the env (``explain --python``) are used here; a log alone keeps the general fix.
"""
from __future__ import annotations

import re
from dataclasses import replace

from mambaenv.catalog import load_catalog
from mambaenv.errors import MambaenvError
from mambaenv.explain.context import Context
from mambaenv.facts import TargetEnv
from mambaenv.resolve import resolve_package
from mambaenv.upstream import EXTENSION_MODULES

EXTENSION_PACKAGE = {module: package for package, module in EXTENSION_MODULES.items()}
WHEEL_CAUSES = {"abi_mismatch", "libcudart_missing", "glibcxx_too_old", "selective_scan_cuda_missing", "causal_conv1d_cuda_missing",
                "build_all_archs_hang", "download_failed", "ssl_untrusted_ca"}


def _target(ctx: Context):
    if not (ctx.torch and ctx.python):
        return None
    return TargetEnv(python=ctx.python, machine=ctx.machine or "x86_64", torch=ctx.torch, torch_cuda=ctx.torch_cuda,
                     cxx11_abi=ctx.cxx11_abi)


def _packages_named(evidence: str) -> list[str]:
    """The packages an error line is about (by extension or package name); both when it names neither."""
    named = [pkg for module, pkg in EXTENSION_PACKAGE.items() if module in evidence]
    named += [p for p in EXTENSION_PACKAGE.values() if p not in named and re.search(p.replace("_", "[-_]"), evidence)]
    return named or list(EXTENSION_PACKAGE.values())


def wheel_fix(ctx: Context, packages: list[str]) -> str | None:
    """'install <file>' for each package when a prebuilt wheel fits the env, else the build command."""
    if ctx.nightly or ctx.ngc:
        return f"torch {ctx.torch} is a {'nightly' if ctx.nightly else 'NGC'} build: no prebuilt wheel exists; mambaenv build compiles for it"
    target = _target(ctx)
    if target is None or not ctx.torch_cuda:
        return None
    try:
        catalog = load_catalog(offline=True)
        choices = [resolve_package(catalog, p, target) for p in packages]
    except MambaenvError:
        return None
    files = [c.wheel.filename for c in choices if c.wheel]
    missing = [c for c in choices if not c.wheel]
    parts = []
    if files:
        parts.append("the wheel for this env (torch " + ctx.torch + ") is " + " and ".join(files) + ": mambaenv install fetches and checks it")
    if missing:
        parts.append("; ".join(f"no prebuilt {c.package} wheel fits ({c.reason}): mambaenv build" for c in missing))
    return "; ".join(parts) or None


def causal_for_mamba(mamba_version: str) -> str | None:
    """The causal_conv1d release that was current when this mamba_ssm was released (they are released together)."""
    catalog = load_catalog(offline=True)
    mamba = catalog.find("mamba_ssm", mamba_version.split("+")[0])
    if mamba is None:
        return None
    fitting = [r for r in catalog.for_package("causal_conv1d") if r.date <= mamba.date]
    return max(fitting, key=lambda r: (r.date, r.key)).package_version if fitting else None


def tailor(d, ctx: Context):
    if not ctx.from_env:
        return d
    fix = None
    if d.cause in WHEEL_CAUSES:
        fix = wheel_fix(ctx, _packages_named(d.evidence))
    elif d.cause in ("causal_conv1d_incompatible_args", "causal_conv1d_none"):
        mamba = ctx.installed.get("mamba_ssm")
        causal = causal_for_mamba(mamba) if mamba else None
        if causal:
            have = ctx.installed.get("causal_conv1d")
            fix = (f"mamba_ssm {mamba} was released with causal_conv1d {causal}" + (f" (this env has {have})" if have else "")
                   + f": install causal_conv1d {causal} built for this torch (mambaenv install)")
    elif d.cause == "no_kernel_image" and ctx.gpu_capability:
        fix = f"this GPU is sm_{ctx.gpu_capability.replace('.', '')}: mambaenv build --arch {ctx.gpu_capability} (or --arch native)"
    elif d.cause in ("no_nvcc", "cuda_mismatch") and ctx.torch_cuda and not ctx.rocm:
        have = f" (nvcc here is {ctx.nvcc})" if ctx.nvcc else ""
        wheel = None if ctx.nightly or ctx.ngc else wheel_fix(ctx, ["mamba_ssm", "causal_conv1d"])
        fix = (wheel + "; or build: " if wheel and "mambaenv install" in wheel else "") + \
            f"install CUDA toolkit {ctx.cuda_major}.x{have}, set CUDA_HOME to it, then mambaenv build"
    elif d.cause in ("build_isolation_no_torch", "build_isolation_wrong_torch") and ctx.torch:
        fix = f"pip install --no-build-isolation mamba-ssm causal-conv1d (builds against this env's torch {ctx.torch}), or mambaenv install"
    return replace(d, fix=fix) if fix else d
