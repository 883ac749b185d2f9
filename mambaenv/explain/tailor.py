"""Make a diagnosis's fix concrete with the target env's facts: the exact wheel, the toolkit version, the matching package.

Only facts probed from the env (``explain --python``) are used here; a log alone keeps the general fix. Which wheel
fits that env is the planner's answer, put into the context by the command (explain sits below the planner).
"""
from __future__ import annotations

import re
from dataclasses import replace

from mambaenv.packages import extension_owner

EXTENSION_PACKAGE = extension_owner()
WHEEL_CAUSES = {"abi_mismatch", "libcudart_missing", "glibcxx_too_old", "selective_scan_cuda_missing", "causal_conv1d_cuda_missing",
                "build_all_archs_hang", "download_failed", "ssl_untrusted_ca"}


def _packages_named(evidence: str) -> list[str]:
    """The packages an error line is about (by extension or package name); both when it names neither."""
    named = [pkg for module, pkg in EXTENSION_PACKAGE.items() if module in evidence]
    named += [p for p in EXTENSION_PACKAGE.values() if p not in named and re.search(p.replace("_", "[-_]"), evidence)]
    return named or list(EXTENSION_PACKAGE.values())


def wheel_fix(ctx, packages: list[str]) -> str | None:
    """'install <file>' for each package when a prebuilt wheel fits the env, else the build command."""
    if ctx.nightly or ctx.ngc:
        return f"torch {ctx.torch} is a {'nightly' if ctx.nightly else 'NGC'} build: no prebuilt wheel exists; mambaenv build compiles for it"
    if not (ctx.torch and ctx.python and ctx.torch_cuda):
        return None
    files = [ctx.wheel_files[p] for p in packages if p in ctx.wheel_files]
    missing = [(p, ctx.wheel_missing[p]) for p in packages if p in ctx.wheel_missing]
    parts = []
    if files:
        parts.append("the wheel for this env (torch " + ctx.torch + ") is " + " and ".join(files) + ": mambaenv install fetches and checks it")
    if missing:
        parts.append("; ".join(f"no prebuilt {p} wheel fits ({why}): mambaenv build" for p, why in missing))
    return "; ".join(parts) or None


def tailor(d, ctx):
    if not ctx.from_env:
        return d
    fix = None
    if d.cause in WHEEL_CAUSES:
        fix = wheel_fix(ctx, _packages_named(d.evidence))
    elif d.cause in ("causal_conv1d_incompatible_args", "causal_conv1d_none"):
        mamba = ctx.installed.get("mamba_ssm")
        causal = ctx.paired_causal if mamba else None
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
