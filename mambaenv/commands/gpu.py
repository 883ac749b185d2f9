"""smoke and build: run the Mamba kernels in the target env; build the wheels from source for this GPU's architecture."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.build import BuildPlan, build_many, check_toolchain, fetch_sdist, local_tag_for, max_jobs
from mambaenv.build_cache import find_cached_build, key_for_target
from mambaenv.config import cache_dir
from mambaenv.detect.ext_record import remember_smoke
from mambaenv.detect.host import detect_nvidia, detect_toolkit
from mambaenv.detect.pyenv import choose_python, probe_python
from mambaenv.digest import sha256_file
from mambaenv.errors import BadInput, ExitCode, MambaenvError
from mambaenv.fix_target import aim_fix, named_target
from mambaenv.packages import selected
from mambaenv.render import status_line
from mambaenv.smoke import record_smoke_result, run_smoke

# The smoke script (stdlib only, in the target env) has its own numbers; its verdict picks from the one table.
SMOKE_EXIT = {"passed": ExitCode.OK, "no_cuda_device": ExitCode.NO_CUDA_DEVICE}


@dataclass(frozen=True)
class SmokeRequest:
    python: str | None = None
    env: str | None = None
    bench: bool = False
    quiet: bool = False
    full_autotune: bool = False


@dataclass
class SmokeStep:
    name: str
    status: str  # "pass" | "fail" | "skip"
    seconds: float | None = None
    facts: dict = field(default_factory=dict)  # what the step measured: version, max_abs_diff, speedup, bandwidth_gbs, error, ...
    diagnosis: dict | None = None  # explain's answer for a failed step

    def to_dict(self) -> dict:
        d = {"name": self.name, "status": self.status, "seconds": self.seconds, **self.facts}
        if self.diagnosis is not None:
            d["diagnosis"] = self.diagnosis
        return d


@dataclass
class SmokeResult:
    """The smoke script's answer (it runs in the target env and prints JSON), as data: ``to_dict`` is that JSON."""

    result: str  # "passed" | "failed" | "no_cuda_device"
    steps: list[SmokeStep]
    total_seconds: float | None = None
    device: dict | None = None
    python: str | None = None
    stderr_tail: str = ""

    @classmethod
    def from_script(cls, raw: dict) -> "SmokeResult":
        steps = [SmokeStep(s.get("name", "?"), s.get("status", "fail"), s.get("seconds"),
                           {k: v for k, v in s.items() if k not in ("name", "status", "seconds", "diagnosis")}, s.get("diagnosis"))
                 for s in raw.get("steps", [])]
        return cls(raw.get("result") or "failed", steps, raw.get("total_seconds"), raw.get("device"), raw.get("python"),
                   raw.get("stderr_tail") or "")

    def to_dict(self) -> dict:
        return {"steps": [s.to_dict() for s in self.steps], "device": self.device, "result": self.result,
                "total_seconds": self.total_seconds, "stderr_tail": self.stderr_tail, "python": self.python}

    @property
    def exit_code(self) -> int:
        return SMOKE_EXIT.get(self.result, ExitCode.NO_WORKING_PATH)


def smoke(req: SmokeRequest) -> SmokeResult:
    exe = choose_python(req.python, req.env)
    named = named_target(req.python, req.env, exe)  # another env than the active one: its fixes must name it
    cb, ctx = status_line(req.quiet)
    with ctx:
        if cb:
            cb(f"running the Mamba kernels in {exe} (imports take ~10 s, a first Triton compile longer)")
        try:
            _, result = run_smoke(exe, req.bench, full_autotune=req.full_autotune)
        except MambaenvError as e:
            e.fix = aim_fix(e.fix, named)
            raise
    answer = SmokeResult.from_script(result)
    for step in answer.steps:
        if step.diagnosis:
            step.diagnosis["fix"] = aim_fix(step.diagnosis["fix"], named)
    try:
        record_smoke_result(answer.to_dict(), cache_dir(), exe)
    except OSError:
        pass  # the result is still printed; only doctor's "last smoke result" misses it
    remember_smoke(exe, cache_dir(), answer.result == "passed")
    return answer


def native_archs() -> list[str]:
    caps = sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability})
    if not caps:
        raise MambaenvError("no GPU found to take the architecture from", "give it with --arch, e.g. --arch 9.0")
    return caps


@dataclass(frozen=True)
class BuildRequest:
    package: str = "all"
    sdists: tuple[str, ...] = ()
    arch: str = "native"  # native, a list like 9.0,8.6, or upstream
    jobs: int | None = None
    python: str | None = None
    env: str | None = None
    version: str | None = None
    index_url: str | None = None
    dest: str | None = None
    quiet: bool = False
    split: bool = True


@dataclass
class BuildResult:
    builds: list[dict] = field(default_factory=list)  # one per package; "error" in one that failed

    def to_dict(self) -> dict:
        return {"builds": self.builds}

    @property
    def exit_code(self) -> int:
        return ExitCode.BUILD_FAILED if any("error" in r for r in self.builds) else ExitCode.OK


def build_cmd(req: BuildRequest) -> BuildResult:
    names = list(selected(req.package))
    exe = choose_python(req.python, req.env)
    target = probe_python(exe).target()
    if target.torch is None:  # not "CPU-only": there is no torch at all to build against
        raise BadInput(f"there is no torch in {exe}: build compiles the kernels against that env's own torch",
                       "install a CUDA build of torch there first, or give --python/--env the env that has it")
    if target.torch_cuda is None:
        check_toolchain(detect_toolkit().version, target.torch_cuda)
    arch = req.arch
    archs = None if arch == "upstream" else (native_archs() if arch == "native" else [a for a in arch.split(",") if a])
    out_dir = Path(req.dest) if req.dest else None
    local = local_tag_for(target.torch_cuda, target.torch, bool(target.cxx11_abi))
    per_job = req.jobs or max_jobs(len(names))
    workroot = Path(tempfile.mkdtemp(prefix="mambaenv-build-"))
    plans, hits = [], []
    for n in names:
        given = [Path(s) for s in req.sdists if Path(s).name.startswith(n)]
        if req.sdists and not given:
            raise MambaenvError(f"no sdist for {n} among --sdist", f"add --sdist {n}-VERSION.tar.gz or --package")
        src = given[0] if given else fetch_sdist(n, req.version, workroot, exe, req.index_url)
        key = key_for_target(n, target, sha256_file(src), archs)
        cached = find_cached_build(key, cache_dir())
        if cached:
            hits.append(cached_build(n, cached, out_dir, archs))
            continue
        plans.append(BuildPlan(n, src, archs, per_job, exe, local, out_dir or workroot / "wheels", req.split, key, cache_dir(), target.torch))
    results = []
    if plans:
        check_toolchain(detect_toolkit().version, target.torch_cuda)
        cb, ctx = status_line(req.quiet)
        with ctx:
            results = build_many(plans, workroot, cb)
        if not out_dir:  # the cache is the destination: report the stored copy, not the temporary one
            for r in results:
                if r.get("cached_at"):
                    r["wheel"] = r["cached_at"]
    by_name = {r["package"]: r for r in hits + results}
    return BuildResult([by_name[n] for n in names])


def cached_build(package: str, cached: Path, out_dir: Path | None, archs) -> dict:
    """The answer for a build the cache already holds (copied to --dest when one is given)."""
    wheel = cached
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / cached.name
        if wheel.resolve() != cached.resolve():
            shutil.copy2(cached, wheel)
    return {"package": package, "wheel": str(wheel), "seconds": 0.0, "cached": True, "cached_at": str(cached),
            "size": cached.stat().st_size, "archs": archs or "upstream", "jobs": 0, "log": None, "split": None}
