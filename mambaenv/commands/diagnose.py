"""doctor: probe the env and the host (overlapped), plan the wheels for them, and run the checks."""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mambaenv.config import cache_dir
from mambaenv.detect.ext_record import installed_result
from mambaenv.detect.extensions import from_probe
from mambaenv.detect.host import detect_host
from mambaenv.detect.pyenv import choose_python, probe_python
from mambaenv.doctor import aimed_plans, doctor_checks, has_working_path
from mambaenv.errors import ExitCode
from mambaenv.facts import Check
from mambaenv.fix_target import named_target
from mambaenv.packages import DEFAULT
from mambaenv.plan import PlanRequest, plan
from mambaenv.target import Target


@dataclass(frozen=True)
class DoctorRequest:
    python: str | None = None
    env: str | None = None
    deep: bool = False
    offline: bool = False
    with_docker: bool = True
    wheelhouses: tuple[str, ...] = ()
    no_third_party: bool = False


@dataclass
class DoctorResult:
    ok: bool
    host: object  # HostFacts
    pyenv: object  # PyEnvFacts
    target: object  # TargetEnv
    checks: list = field(default_factory=list)
    plans: list = field(default_factory=list)  # plan.PackagePlan, one per package

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "host": self.host.to_dict(),
            "pyenv": self.pyenv.to_dict(),
            "target": self.target.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "packages": [p.to_dict() for p in self.plans],
        }

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.ok else ExitCode.NO_WORKING_PATH


def doctor(req: DoctorRequest) -> DoctorResult:
    exe = choose_python(req.python, req.env)
    # The probe is another process; host detection waits on NVML and the Docker socket: overlap them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = pool.submit(probe_python, exe, req.deep)
        host = detect_host(with_docker=req.with_docker)
        pyenv = probing.result()
    # the wheels must run on the GPUs here: the plan checks each wheel's archs against them
    caps = tuple(sorted({g.compute_capability for g in host.nvidia.gpus if g.compute_capability}))
    target = Target(dataclasses.replace(pyenv.target(), gpu_caps=caps), pyenv)
    named = named_target(req.python, req.env, exe)  # another env than the active one: its fixes must name it
    answer = plan(PlanRequest.configured(target, DEFAULT, wheelhouses=req.wheelhouses, no_third_party=req.no_third_party,
                                         offline=req.offline, ask_index=not req.offline))
    plans = aimed_plans(answer.packages, named)
    installed, installed_error = installed_packages(exe, pyenv, recheck=req.deep)
    checks = doctor_checks(host, pyenv, plans, installed, installed_error, last_smoke(exe), named)
    checks += freshness_checks(answer.freshness)
    return DoctorResult(has_working_path(checks, plans), host, pyenv, target.env, checks, plans)


def freshness_checks(freshness: list) -> list[Check]:
    """One check per package: does the catalog know every version the package index lists? (online only)"""
    checks = []
    for f in freshness:
        if f.message:
            checks.append(Check(f"catalog:{f.package}", "warn", f.message, "mambaenv catalog refresh"))
        elif f.error:
            checks.append(Check(f"catalog:{f.package}", "skip", f.error))  # "not checked: ..." (its URL and why)
        else:
            checks.append(Check(f"catalog:{f.package}", "pass", f"the catalog knows every {f.package} version {f.index} lists"))
    return checks


def installed_packages(exe: str, pyenv, recheck: bool = False):
    """The installed packages' extension facts, probed only when one of them is installed (it imports torch there)
    and something changed since the last load that worked (or --deep asks)."""
    if not any(pyenv.package_version(p) for p in DEFAULT):
        return [], None
    raw = installed_result(pyenv, cache_dir(), recheck)
    if "error" in raw:
        return [], raw["error"]
    torch = raw.get("torch") or {}
    if "import_error" in torch:
        return [], f"torch does not import in {exe}: {torch['import_error']}"
    return from_probe(raw), None


def last_smoke(exe: str) -> dict | None:
    """The last smoke result recorded for this interpreter's env, if any."""
    from mambaenv.smoke.record import last_smoke_result  # start-up: doctor's other paths read no smoke record

    return last_smoke_result(cache_dir(), exe)
