"""Make a diagnosis's fix concrete with the target env's facts: the exact wheel, the toolkit version, the matching package.

Only facts probed from the env (``explain --python``) are used here; a log alone keeps the general fix. Which wheel
fits that env is the planner's answer, put into the context by the command (explain sits below the planner).
"""
from __future__ import annotations

import re
from dataclasses import replace

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mambaenv.explain.context import Context
from mambaenv.packages import extension_owner

EXTENSION_PACKAGE = extension_owner()
WHEEL_FILE = re.compile(r"[\w.+!-]{1,200}\.whl\b")
NEWEST_PTXAS_MAJOR = 13  # CUDA 13's ptxas is the first that knows sm_110 and sm_121 (Thor, GB10)
# The torch index whose builds carry kernels for a GPU arch (sm_100/sm_120 from CUDA 12.8, sm_103/110/121 from 13.0)
TORCH_INDEX_FOR_ARCH = {"10.0": "cu128", "12.0": "cu128", "10.3": "cu130", "11.0": "cu130", "12.1": "cu130"}
# A wheel's platform tag for each system starts with one of these
PLATFORM_PREFIX = {"linux": ("linux", "manylinux", "musllinux"), "windows": ("win",), "darwin": ("macosx",)}
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


def _wheel(d, ctx: Context) -> str | None:
    return wheel_fix(ctx, _packages_named(d.evidence))


def _causal_pair(d, ctx: Context) -> str | None:
    mamba = ctx.installed.get("mamba_ssm")
    causal = ctx.paired_causal if mamba else None
    if not causal:
        return None
    have = ctx.installed.get("causal_conv1d")
    return (f"mamba_ssm {mamba} was released with causal_conv1d {causal}" + (f" (this env has {have})" if have else "")
            + f": install causal_conv1d {causal} built for this torch (mambaenv install)")


def _arch(d, ctx: Context) -> str | None:
    if not ctx.gpu_capability:
        return None
    return f"this GPU is sm_{ctx.gpu_capability.replace('.', '')}: mambaenv build --arch {ctx.gpu_capability} (or --arch native)"


def _toolkit(d, ctx: Context) -> str | None:
    if not ctx.torch_cuda or ctx.rocm:
        return None
    have = f" (nvcc here is {ctx.nvcc})" if ctx.nvcc else ""
    wheel = None if ctx.nightly or ctx.ngc else wheel_fix(ctx, ["mamba_ssm", "causal_conv1d"])
    return (wheel + "; or build: " if wheel and "mambaenv install" in wheel else "") + \
        f"install CUDA toolkit {ctx.cuda_major}.x{have}, set CUDA_HOME to it, then mambaenv build"


def _no_isolation(d, ctx: Context) -> str | None:
    if not ctx.torch:
        return None
    return f"pip install --no-build-isolation mamba-ssm causal-conv1d (builds against this env's torch {ctx.torch}), or mambaenv install"


def _cxx20(d, ctx: Context) -> str | None:
    if not ctx.torch:
        return None
    wheel = wheel_fix(ctx, _packages_named(d.evidence))
    prebuilt = wheel + "; or build: " if wheel and "mambaenv install" in wheel else ""
    return (f"torch {ctx.torch} needs C++20: {prebuilt}sed -i 's/-std=c++17/-std=c++20/g' setup.py in the package's source, then "
            "pip install --no-build-isolation . (or a release that passes -std=c++20)")


def _force_build(d, ctx: Context) -> str | None:
    if not ctx.torch:
        return None
    return (f"setup.py could not parse the version of this torch ({ctx.torch}) or its CUDA to guess a wheel: skip the guess with "
            "MAMBA_FORCE_BUILD=TRUE "
            "CAUSAL_CONV1D_FORCE_BUILD=TRUE pip install --no-build-isolation mamba-ssm causal-conv1d (builds against it)")


def _ptxas(d, ctx: Context) -> str | None:
    major = int(ctx.nvcc.split(".")[0]) if ctx.nvcc and ctx.nvcc.split(".")[0].isdigit() else None
    if ctx.cuda_home and major and major >= NEWEST_PTXAS_MAJOR:
        return f"export TRITON_PTXAS_PATH={ctx.cuda_home}/bin/ptxas (this machine's CUDA {ctx.nvcc} knows this GPU), then rerun"
    have = f"the CUDA toolkit here is {ctx.nvcc}, too old as well: " if major else ""
    return f"{have}install a CUDA {NEWEST_PTXAS_MAJOR}.x toolkit, then export TRITON_PTXAS_PATH=<that toolkit>/bin/ptxas"


def _old_gpu(d, ctx: Context) -> str | None:
    if not ctx.gpu_capability:
        return None
    sm, cc = "sm_" + ctx.gpu_capability.replace(".", ""), tuple(int(x) for x in ctx.gpu_capability.split("."))
    if cc < (7, 0):
        return f"this GPU is {sm}: Triton cannot compile for it; use Mamba (v1, CUDA kernels) instead of Mamba2, or an sm_80+ GPU"
    if cc < (8, 0):
        return f"this GPU is {sm} (before Ampere, no tf32): export TRITON_F32_DEFAULT=ieee and use float16/float32, then rerun"
    return None


def _torch_for_gpu(d, ctx: Context) -> str | None:
    index = TORCH_INDEX_FOR_ARCH.get(ctx.gpu_capability or "")
    if not index:
        return None
    sm = "sm_" + ctx.gpu_capability.replace(".", "")
    return (f"this GPU is {sm}; torch {ctx.torch or '(this one)'} has no kernels for it: pip install torch --index-url "
            f"https://download.pytorch.org/whl/{index}, then mambaenv install")


def _wheel_tags(d, ctx: Context) -> str | None:
    m = WHEEL_FILE.search(d.evidence)
    return wheel_refusal(m.group(0), ctx) if m else None


def wheel_refusal(filename: str, ctx: Context) -> str | None:
    """Why pip refuses ``filename`` in the env of ``ctx``, from the file name's tags alone (pip reads nothing else)."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as e:
        return f"{filename} is not a valid wheel file name ({e}): save it under the name it was published with"
    cpython = f"cp{ctx.python.replace('.', '')}" if ctx.python else None
    if cpython and not any(t.interpreter in (cpython, "py3") for t in tags):
        wanted = sorted({t.interpreter for t in tags})
        return f"{filename} is built for {', '.join(wanted)}, this env runs Python {ctx.python}: take the {cpython} file"
    machine, system = ctx.machine or "x86_64", ctx.platform or "linux"
    ok = [t for t in tags if t.platform == "any" or (t.platform.endswith("_" + machine.lower().replace("amd64", "x86_64"))
                                                      and t.platform.startswith(PLATFORM_PREFIX.get(system, ("linux", "manylinux"))))]
    if not ok:
        return (f"{filename} is for platform {', '.join(sorted({t.platform for t in tags}))}, this env is {system} "
                f"{machine}: take the file for it (mambaenv resolve names it)")
    glibc = [t.platform.split("_")[2] for t in tags if t.platform.startswith("manylinux_2_")]
    if glibc:
        return f"{filename} needs glibc 2.{min(glibc, key=int)} or newer (ldd --version shows this system's); pip found it older"
    return None


# cause -> what the env's facts make of its fix; each returns None when the facts do not say more than the rule's fix
TAILORS = {
    **{cause: _wheel for cause in WHEEL_CAUSES},
    "causal_conv1d_incompatible_args": _causal_pair, "causal_conv1d_none": _causal_pair,
    "no_kernel_image": _arch,
    "no_nvcc": _toolkit, "cuda_mismatch": _toolkit,
    "build_isolation_no_torch": _no_isolation, "build_isolation_wrong_torch": _no_isolation,
    "cxx20_required": _cxx20,
    "wheel_url_invalid_version": _force_build,
    "triton_ptxas_too_old": _ptxas,
    "triton_old_gpu": _old_gpu,
    "torch_arch_missing": _torch_for_gpu,
    "wheel_not_supported": _wheel_tags,
}


def tailor(d, ctx: Context):
    """``d`` with its fix made concrete for the probed env (``explain --python``); a log alone keeps the general fix."""
    if not ctx.from_env or d.cause not in TAILORS:
        return d
    fix = TAILORS[d.cause](d, ctx)
    return replace(d, fix=fix) if fix else d
