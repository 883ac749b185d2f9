"""Pure resolution: a target environment and the catalog in, ranked wheel choices out. No I/O."""
from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import Version

from mambaenv.catalog import Catalog, Release, WheelAsset, wheels_of
from mambaenv.errors import BadInput
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import PACKAGES, LocalTag, format_wheel_filename, release_url


@dataclass
class Alternative:
    kind: str  # "release" | "torch" | "build" | "platform" | "install-cuda-torch"
    summary: str
    command: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "summary": self.summary, "command": self.command}


@dataclass
class Choice:
    package: str
    wheel: WheelAsset | None
    reason: str
    release: Release | None = None
    alternatives: list[Alternative] = field(default_factory=list)

    def to_dict(self) -> dict:
        w = self.wheel
        return {
            "package": self.package,
            "version": w.version if w else (self.release.package_version if self.release else None),
            "tag": w.tag if w else (self.release.tag if self.release else None),
            "file": w.filename if w else None,
            "url": w.url if w else None,
            "size": w.size if w else None,
            "sha256": w.sha256 if w else None,
            "source": w.source if w else None,
            "reason": self.reason,
            "alternatives": [a.to_dict() for a in self.alternatives],
        }


def unsupported_platform(env: TargetEnv) -> str | None:
    """Why no upstream wheel can ever fit this platform, or None."""
    if env.system == "Windows":
        return "upstream builds no Windows wheels and its CUDA kernels do not compile with MSVC; use WSL2 (Ubuntu) or Docker"
    if env.system == "Darwin":
        return "upstream needs an NVIDIA GPU and CUDA, which macOS lacks; use a Linux GPU server or a cloud GPU"
    if env.system != "Linux":
        return f"upstream builds wheels only for Linux, not {env.system}"
    if env.machine not in ("x86_64", "aarch64"):
        return f"upstream builds wheels only for x86_64 and aarch64, not {env.machine}"
    if env.torch is None:
        return "torch is not installed in this environment; install a CUDA build of torch first"
    if env.torch_hip:
        return (f"this torch is a ROCm build (HIP {env.torch_hip}); upstream publishes no ROCm wheels, "
                "so build from source with ROCm (mamba_ssm's setup.py supports HIP)")
    if env.torch_cuda is None:
        return "this torch is a CPU-only build; the CUDA kernels of mamba_ssm and causal_conv1d need a CUDA build of torch"
    return None


def wheel_matches(w: WheelAsset, env: TargetEnv) -> bool:
    return (
        w.python == env.python
        and w.machine == env.machine
        and not w.local.is_ngc
        and w.local.cuda_major == env.cuda_major
        and w.local.torch == env.torch_major_minor
        and w.local.cxx11_abi == bool(env.cxx11_abi)
    )


def ngc_wheel(release: Release, env: TargetEnv) -> WheelAsset | None:
    """The wheel an NGC container build of ``release`` produced for this container, if one was built."""
    if not env.ngc_version or release.no_wheels_reason:
        return None
    cuda_major = (env.cuda_version_env or env.torch_cuda or "").split(".")[0]
    if release.live_assets is not None:
        for w in wheels_of(release):
            if (w.local.is_ngc and w.local.torch == env.ngc_version and w.python == env.python
                    and w.machine == env.machine and str(w.local.cuda_major) == cuda_major):
                return w
        return None
    if env.ngc_version not in release.ngc_months or env.machine not in release.ngc_machines or not cuda_major:
        return None
    local = LocalTag(cuda=cuda_major, torch=env.ngc_version, cxx11_abi=True)
    name = format_wheel_filename(release.package, release.package_version, local, env.python, env.machine)
    return WheelAsset(release.package, release.tag, release.package_version, env.python, local, env.machine,
                      name, release_url(release.repo, release.tag, name), source="ngc-expected")


def find_wheel(release: Release, env: TargetEnv) -> WheelAsset | None:
    for w in wheels_of(release):
        if wheel_matches(w, env):
            return w
    return None


def _vkey(text: str) -> Version:
    return Version(text)


def why_none_fits(releases: list[Release], env: TargetEnv) -> str:
    """Name the first of the env's facts that no built wheel matches, with what does exist."""
    wheels = [w for r in releases for w in wheels_of(r) if not w.local.is_ngc]
    if not wheels:
        reasons = {r.no_wheels_reason for r in releases if r.no_wheels_reason}
        return "this release has no wheels: " + "; ".join(sorted(reasons)) if reasons else "no wheels were built"
    def listed(values) -> str:
        return ", ".join(str(v) for v in values)

    abi = "TRUE" if env.cxx11_abi else "FALSE"
    other_abi = "FALSE" if env.cxx11_abi else "TRUE"
    # Each fact in turn narrows the built wheels; the first that leaves none is the reason.
    steps = [
        (lambda w: w.machine == env.machine,
         lambda ws: f"no wheel for {env.machine}; wheels exist for {listed(sorted({w.machine for w in ws}))}"),
        (lambda w: w.python == env.python,
         lambda ws: f"no wheel for Python {env.python}; wheels exist for Python {listed(sorted({w.python for w in ws}, key=_vkey))}"),
        (lambda w: w.local.cuda_major == env.cuda_major,
         lambda ws: f"no wheel for CUDA {env.cuda_major} (torch is built for CUDA {env.torch_cuda}); "
                    f"wheels exist for CUDA {listed(sorted({w.local.cuda_major for w in ws}))}"),
        (lambda w: w.local.torch == env.torch_major_minor, lambda ws: _torch_reason(env, ws)),
        (lambda w: w.local.cxx11_abi == bool(env.cxx11_abi),
         lambda ws: f"no wheel with cxx11abi{abi} for torch {env.torch_major_minor}; only cxx11abi{other_abi} was built"),
    ]
    for keep, explain in steps:
        kept = [w for w in wheels if keep(w)]
        if not kept:
            return explain(wheels)
        wheels = kept
    return "no wheel matches this environment"


def _torch_reason(env: TargetEnv, ws: list[WheelAsset]) -> str:
    built = sorted({w.local.torch for w in ws}, key=_vkey)
    newest = built[-1]
    where = f"Python {env.python}, CUDA {env.cuda_major}"
    if _vkey(env.torch_major_minor) > _vkey(newest):
        return f"no release builds torch {env.torch_major_minor}; the newest torch with wheels for {where} is {newest}"
    return f"no wheel for torch {env.torch_major_minor} with {where}; torch versions with wheels: {', '.join(built)}"


def torch_options(releases: list[Release], env: TargetEnv) -> list[str]:
    """Torch major.minor versions that do have wheels for this Python, CUDA major, machine (newest first)."""
    seen = {w.local.torch for r in releases for w in wheels_of(r)
            if not w.local.is_ngc and w.python == env.python and w.machine == env.machine
            and w.local.cuda_major == env.cuda_major}
    return sorted(seen, key=_vkey, reverse=True)


def build_alternative(package: str) -> Alternative:
    return Alternative("build", "build a wheel for this GPU's architecture only from the sdist (minutes, not hours)",
                       f"mambaenv build --package {package}")


def resolve_package(catalog: Catalog, package: str, env: TargetEnv, version: str | None = None) -> Choice:
    if package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    releases = catalog.for_package(package)
    pinned = None
    if version:
        pinned = catalog.find(package, version)
        if pinned is None:
            known = ", ".join(r.tag.lstrip("v") for r in releases[:6])
            raise BadInput(f"unknown {package} version {version!r}", f"known releases include {known}")
    blocked = unsupported_platform(env)
    if blocked:
        alts = [Alternative("platform", blocked)]
        return Choice(package, None, blocked, pinned, alts)
    candidates = [pinned] if pinned else releases
    if env.ngc_version:
        # Inside an NGC container upstream's own setup.py asks for the container build first.
        for r in candidates:
            w = ngc_wheel(r, env)
            if w:
                return Choice(package, w, f"{r.tag} was built in the NGC PyTorch {env.ngc_version} container", r)
    for r in candidates:
        w = find_wheel(r, env)
        if w:
            why = f"{r.tag} has a prebuilt wheel for this environment"
            if env.ngc_version:
                why += f" (no build for NGC {env.ngc_version}; this is the torch {env.torch_major_minor} wheel with the same ABI)"
            if pinned is None and r is not releases[0]:
                why += f" (newer releases, up to {releases[0].tag}, have none)"
            return Choice(package, w, why, r)
    reason = why_none_fits(candidates, env)
    alts: list[Alternative] = []
    if pinned:
        for r in releases:
            w = find_wheel(r, env)
            if w:
                alts.append(Alternative("release", f"{package} {r.package_version} ({r.tag}) has a wheel for this environment",
                                        f"--package-version {r.tag.lstrip('v')}"))
                break
    options = torch_options(releases, env)
    if options:
        verb = "have" if len(options) > 1 else "has"
        index = f"https://download.pytorch.org/whl/cu{(env.torch_cuda or '').replace('.', '')}"
        alts.append(Alternative("torch", f"torch {', '.join(options[:4])} {verb} prebuilt wheels for Python {env.python} and CUDA {env.cuda_major}",
                                f"pip install 'torch=={options[0]}.*' --index-url {index}"))
    alts.append(build_alternative(package))
    return Choice(package, None, reason, pinned, alts)


def resolve_all(catalog: Catalog, env: TargetEnv, package: str = "all", version: str | None = None) -> list[Choice]:
    names = PACKAGES if package == "all" else (package,)
    if version and package == "all":
        raise BadInput("--package-version needs one --package", "add --package mamba_ssm or --package causal_conv1d")
    return [resolve_package(catalog, name, env, version) for name in names]
