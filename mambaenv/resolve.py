"""The upstream catalog's answer for one package: the release wheel that fits a target, or why none does and what to do
instead. Pure: the catalog and a target in, a Choice out. The planner (plan.py) asks it after the sources that come first."""
from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from mambaenv import compat
from mambaenv.catalog import Catalog, Release, WheelAsset, archs_bounds_for_cuda_major, archs_for_cuda_major, wheels_for_platform, wheels_of
from mambaenv.errors import BadInput
from mambaenv.facts import TargetEnv
from mambaenv.packages import get as package_record
from mambaenv.packages import selected
from mambaenv.upstream import MACHINES, torch_index_for
from mambaenv.wheelname import LocalTag, format_wheel_filename, release_url


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
    unchecked: tuple[str, ...] = ()  # compat rows the chosen wheel could not be checked against
    blocked_by: str | None = None  # no wheel: the compat row that left none (or "platform", "version")

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
            "cuda_toolkit": w.cuda_toolkit if w else None,
            "archs": list(w.archs) if w and w.archs is not None else None,
            "reason": self.reason,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "unchecked": list(self.unchecked),
        }


def unsupported_platform(env: TargetEnv) -> str | None:
    """Why no upstream wheel can ever fit this platform, or None."""
    if env.system == "Windows":
        return "upstream builds no Windows wheels and its CUDA kernels do not compile with MSVC; use WSL2 (Ubuntu) or Docker"
    if env.system == "Darwin":
        return "upstream needs an NVIDIA GPU and CUDA, which macOS lacks; use a Linux GPU server or a cloud GPU"
    if env.system != "Linux":
        return f"upstream builds wheels only for Linux, not {env.system}"
    if env.machine not in MACHINES:
        return f"upstream builds wheels only for {' and '.join(MACHINES)}, not {env.machine}"
    if env.torch is None:
        return "torch is not installed in this environment; install a CUDA build of torch first"
    if env.torch_hip:
        return (f"this torch is a ROCm build (HIP {env.torch_hip}); upstream publishes no ROCm wheels, "
                "so build from source with ROCm (mamba_ssm's setup.py supports HIP)")
    if env.torch_cuda is None:
        return "this torch is a CPU-only build; the CUDA kernels of mamba_ssm and causal_conv1d need a CUDA build of torch"
    return None


def ngc_wheel(release: Release, env: TargetEnv) -> WheelAsset | None:
    """The predicted wheel an NGC container build of ``release`` produced for this container.

    Only for releases without a file list: a listed or live release names its NGC files itself.
    """
    if not env.ngc_version or release.no_wheels_reason or release.source != "predicted":
        return None
    cuda_major = (env.cuda_version_env or env.torch_cuda or "").split(".")[0]
    if env.ngc_version not in release.ngc_months or env.machine not in release.ngc_machines or not cuda_major:
        return None
    local = LocalTag(cuda=cuda_major, torch=env.ngc_version, cxx11_abi=True)
    name = format_wheel_filename(release.package, release.package_version, local, env.python, env.machine)
    rules = release.record.get("arch_rules")
    archs = archs_for_cuda_major(rules, int(cuda_major))
    return WheelAsset(release.package, release.tag, release.package_version, env.python, local, env.machine,
                      name, release_url(release.repo, release.tag, name), source="predicted", archs=archs,
                      archs_bounds=None if archs else archs_bounds_for_cuda_major(rules, int(cuda_major)))


def candidate_wheels(release: Release, env: TargetEnv) -> list[WheelAsset]:
    """The release's wheels on this machine and Python (a cheap first cut), plus its predicted NGC build."""
    # only files naming this torch (or this NGC container) can pass the torch row: skip parsing the rest
    names = tuple(f"torch{t}cxx11abi" for t in (env.torch_major_minor, env.ngc_version) if t)
    out = wheels_for_platform(release, env.python, env.machine, names)
    ngc = ngc_wheel(release, env)
    if ngc and all(w.filename != ngc.filename for w in out):
        out.append(ngc)
    return out


def _rank(w: WheelAsset, verdict: compat.Verdict, env: TargetEnv) -> tuple:
    """Lower is better: the container's own build first, then wheels whose facts are all known."""
    ngc_first = 0 if (env.ngc_version and w.local.is_ngc) else 1
    return (ngc_first, len(verdict.unchecked))


def best_wheel(releases: list[Release], env: TargetEnv) -> tuple[WheelAsset, Release, compat.Verdict] | None:
    best = None
    for i, r in enumerate(releases):
        for w in candidate_wheels(r, env):
            v = compat.evaluate(compat.WheelFacts.of_asset(w), env, stop_at_first=True)
            if not v.fits:
                continue
            key = _rank(w, v, env) + (i,)
            if best is None or key < best[0]:
                best = (key, w, r, v)
    return None if best is None else best[1:]


def why_none_fits(releases: list[Release], env: TargetEnv) -> compat.NoneLeft:
    """Name the first of the env's facts that no built wheel matches, with what does exist."""
    # the machine and Python rows come first: when some wheel passes them, only those need parsing
    wheels = [w for r in releases for w in wheels_for_platform(r, env.python, env.machine)]
    if not wheels:
        wheels = [w for r in releases for w in wheels_of(r)]
    if env.ngc_version:
        wheels += [w for r in releases for w in [ngc_wheel(r, env)] if w]
    if not env.ngc_version:
        wheels = [w for w in wheels if not w.local.is_ngc]
    if not wheels:
        reasons = {r.no_wheels_reason for r in releases if r.no_wheels_reason}
        return compat.NoneLeft("release", "this release has no wheels: " + "; ".join(sorted(reasons)) if reasons else "no wheels were built")
    return compat.why_none(wheels, env)


def torch_options(releases: list[Release], env: TargetEnv) -> list[str]:
    """Torch major.minor versions that do have wheels for this Python, CUDA major, machine (newest first)."""
    upto = compat.rules_upto("cuda")
    seen = {w.local.torch for r in releases for w in wheels_for_platform(r, env.python, env.machine)
            if not w.local.is_ngc and compat.evaluate(compat.WheelFacts.of_asset(w), env, upto).fits}
    return sorted(seen, key=_vkey, reverse=True)


def _vkey(text: str) -> Version:
    return Version(text)


def describe_source(w: WheelAsset, release: Release) -> str:
    if w.source == "listed":
        return "listed in the release's public asset list, sha256 known"
    if w.source == "live":
        return "in GitHub's live asset list"
    if w.source == "probed":
        return "found by a HEAD request; not in any list"
    if release.prediction_note:  # a tag newer than the git copies the catalog was made from: its facts come from elsewhere
        return f"only predicted (no public asset list for it): {release.prediction_note}; mambaenv catalog refresh checks GitHub's list"
    return (f"only predicted from {release.tag}'s build workflow (no public asset list for it): "
            "mambaenv catalog refresh checks GitHub's list")


def describe_gpu(w: WheelAsset, env: TargetEnv) -> str | None:
    if not env.gpu_caps:
        return None
    gpus = compat.archs_text(compat.sm(c) for c in env.gpu_caps)
    if w.archs is None:
        if compat.evaluate(compat.WheelFacts.of_asset(w), env, compat.rules_upto("gpu-arch")[-1:]).fits and w.archs_bounds:
            return f"every toolkit its build could have used compiles code that runs on {gpus}"
        return f"its GPU code list is unknown, so {gpus} is not checked"
    return f"its GPU code ({compat.archs_text(w.archs)}) runs on {gpus}"


def build_alternative(package: str) -> Alternative:
    return Alternative("build", "build a wheel for this GPU's architecture only from the sdist (minutes, not hours)",
                       f"mambaenv build --package {package}")


def pinned_releases(catalog: Catalog, package: str, version: str) -> tuple[list[Release], str | None]:
    """``vX`` names a tag; a bare version names the version in the file names, wherever it is carried.

    Returns the releases to search (listed tags first) and, when no file carries the version,
    why not in the user's words.
    """
    releases = catalog.for_package(package)
    if version.startswith("v"):
        r = catalog.find(package, version)
        return ([r] if r else []), None
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise BadInput(f"malformed version {version!r}", "give it as in the file names, e.g. 2.2.2, or a tag like v2.3.2") from None
    carrying = [r for r in releases if any(Version(v) == wanted for v in r.file_versions())]
    if carrying:
        # a listed tag's file list is the truth for its version: predicted copies of it could name ghosts
        carrying = [r for r in carrying if r.shadowed_by is None] or carrying
        carrying.sort(key=lambda r: r.source != "listed")  # stable: newest first within
        return carrying, None
    tag = catalog.find(package, "v" + version)
    if tag is not None:
        held = sorted(tag.file_versions(), key=_vkey)
        what = f"{package} {', '.join(held)} files" if held else "no wheels"
        return [tag], f"no {package} file carries version {version}: tag {tag.tag} holds {what}"
    return [], None


def resolve_package(catalog: Catalog, package: str, env: TargetEnv, version: str | None = None) -> Choice:
    package_record(package)  # an unknown name is refused here, with the known ones
    releases = catalog.for_package(package)
    pinned, not_carried = None, None
    if version:
        candidates, not_carried = pinned_releases(catalog, package, version)
        if not candidates:
            known = ", ".join(r.tag.lstrip("v") for r in releases[:6])
            raise BadInput(f"unknown {package} version {version!r}", f"known releases include {known}")
        pinned = candidates[0]
    else:
        # A predicted tag whose file version a listed tag carries may name files that tag lacks.
        candidates = [r for r in releases if r.shadowed_by is None]
    blocked = unsupported_platform(env)
    if blocked:
        return Choice(package, None, blocked, pinned, [Alternative("platform", blocked)], blocked_by="platform")
    if not_carried:
        alts = []
        held = sorted(pinned.file_versions(), key=_vkey)
        if held:
            alts.append(Alternative("release", f"the files in {pinned.tag} are version {held[-1]}", f"--package-version {held[-1]}"))
        return Choice(package, None, not_carried, pinned, alts, blocked_by="version")
    found = best_wheel(candidates, env)
    if found:
        w, r, verdict = found
        if w.local.is_ngc:
            why = f"{r.tag} was built in the NGC PyTorch {env.ngc_version} container"
        else:
            why = f"{r.tag} has a prebuilt wheel for this environment"
            if env.ngc_version:
                why += f" (no build for NGC {env.ngc_version}; this is the torch {env.torch_major_minor} wheel with the same ABI)"
        if version is None and r is not candidates[0]:
            why += f" (newer releases, up to {candidates[0].tag}, have none)"
        # the catalog never knows a file's glibc needs (install checks them from the file): not worth a note
        said = [n for n in verdict.unchecked if n != "glibc" and not (n == "gpu-arch" and (not env.gpu_caps or w.archs is None))]
        notes = [describe_source(w, r)] + [x for x in [describe_gpu(w, env)] if x] + [compat.UNCHECKED_WORDS[n] for n in said]
        return Choice(package, w, why + "; " + "; ".join(notes), r, unchecked=verdict.unchecked)
    none_left = why_none_fits(candidates, env)
    alts: list[Alternative] = []
    gpu_blocked = none_left.rule == "gpu-arch"
    if gpu_blocked:
        alts.append(build_alternative(package))
    if pinned:
        found = best_wheel([r for r in releases if r.shadowed_by is None], env)
        if found:
            r = found[1]
            alts.append(Alternative("release", f"{package} {found[0].version} ({r.tag}) has a wheel for this environment",
                                    f"--package-version {found[0].version}"))
    options = torch_options(releases, env)
    if options and not gpu_blocked:
        verb = "have" if len(options) > 1 else "has"
        index = torch_index_for(env.torch_cuda)
        alts.append(Alternative("torch", f"torch {', '.join(options[:4])} {verb} prebuilt wheels for Python {env.python} and CUDA {env.cuda_major}",
                                f"pip install 'torch=={options[0]}.*' --index-url {index}"))
    if not gpu_blocked:
        alts.append(build_alternative(package))
    return Choice(package, None, none_left.text, pinned, alts, blocked_by=none_left.rule)


def resolve_all(catalog: Catalog, env: TargetEnv, package: str = "all", version: str | None = None) -> list[Choice]:
    names = selected(package)
    if version and package == "all":
        raise BadInput("--package-version needs one --package", "add --package mamba_ssm or --package causal_conv1d")
    return [resolve_package(catalog, name, env, version) for name in names]
