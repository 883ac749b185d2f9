"""The doctor's checks: pure functions over detected facts and the wheel plan."""
from __future__ import annotations

import dataclasses

from packaging.version import InvalidVersion, Version

from mambaenv import compat
from mambaenv.compat import archs_text, sm
from mambaenv.detect.driver_cuda import compat_floor, driver_runs, min_driver_for_cuda
from mambaenv.detect.extensions import InstalledPackage
from mambaenv.detect.host import HostFacts
from mambaenv.detect.pyenv import PyEnvFacts
from mambaenv.explain import explain
from mambaenv.facts import Check, TargetEnv
from mambaenv.fix_target import NamedTarget, aim_fix
from mambaenv.packages import TABLE as PACKAGE_TABLE
from mambaenv.plan import INSTALLABLE, PackagePlan
from mambaenv.upstream import BUILD_GLIBC, torch_index_for
from mambaenv.wheelname import local_of_version

OLDEST_PYTHON = "3.7"


def _v(text: str) -> Version:
    return Version(text)


def doctor_checks(host: HostFacts, pyenv: PyEnvFacts, plans: list[PackagePlan], installed: list[InstalledPackage] | None = None,
                  installed_error: str | None = None, smoke_last: dict | None = None, named: NamedTarget | None = None) -> list[Check]:
    """``named``: the env doctor was pointed at with --python/--env; each fix that is a command then names it."""
    env = pyenv.target()
    caps = [g.compute_capability for g in host.nvidia.gpus if g.compute_capability]
    checks = [platform_check(host), *windows_checks(host), *driver_checks(host), *torch_checks(pyenv, host)]
    checks += gpu_arch_checks(host.nvidia.gpus, plans)
    checks += [c for c in (glibc_check(host.glibc), python_check(env, pyenv)) if c]
    found = installed_checks(installed, env, caps, installed_error) if installed is not None else []
    checks += found
    working = {c.name.split(":", 1)[1] for c in found if c.name.startswith("installed:") and c.status == "pass"}
    broken = {c.name.split(":", 1)[1] for c in found if c.name.startswith("installed:") and c.status == "fail"}
    checks += wheel_checks(plans, working, broken)
    if any(_taken(p, broken) is None and p.package not in working for p in plans) and env.torch_cuda:
        checks.append(nvcc_check(host, env))
    if installed is None:  # no extension probe ran: say what the file listing shows
        checks += listed_extension_checks(pyenv)
    if smoke_last is not None:
        checks.append(smoke_check(smoke_last))
    checks += [c for c in (docker_check(host), conda_check(host), torch_moved_check(pyenv, env)) if c]
    return [dataclasses.replace(c, fix=aim_fix(c.fix, named)) for c in checks]


def platform_check(host: HostFacts) -> Check:
    if host.system == "Windows":
        return Check("platform", "fail", "native Windows has no upstream wheels (Linux only)",
                     "per package below: conda-forge's Windows build where one exists, else WSL2 (Ubuntu) or Docker")
    if host.system != "Linux":
        return Check("platform", "fail", f"{host.system} has no upstream wheels", "use WSL2 (Ubuntu) or Docker with the NVIDIA runtime")
    if host.wsl:
        return Check("platform", "pass", "Linux under WSL2: the Linux wheels work with the Windows NVIDIA driver")
    if host.jetson:
        return Check("platform", "warn", f"Jetson ({host.jetson}): upstream wheels are aarch64 server builds and may not match JetPack's "
                     "torch", "build from source with mambaenv build")
    return Check("platform", "pass", f"{host.system} {host.machine} ({host.os_release or 'unknown distribution'})")


def windows_checks(host: HostFacts) -> list[Check]:
    """Native Windows, one line per package: conda-forge's win-64 builds where the feedstock makes them, else WSL2."""
    if host.system != "Windows":
        return []
    from mambaenv.catalog import conda_forge  # start-up: the feedstocks' data loads only on Windows

    data, out = conda_forge.load_conda_forge(), []
    for package in (p.name for p in PACKAGE_TABLE):
        win = sorted((b for b in conda_forge.builds(data, package) if b.platform == "win-64"), key=conda_forge.rank, reverse=True)
        name = data["packages"][package]["name"]
        if not win:
            out.append(Check(f"windows:{package}", "fail", f"{name} has no native Windows build (upstream and conda-forge build it for "
                             "Linux only)", "use WSL2 (Ubuntu) or Docker with the NVIDIA runtime"))
            continue
        new = [b for b in win if b.version == win[0].version]
        pythons = sorted({b.python for b in new}, key=_v)
        out.append(Check(f"windows:{package}", "info", f"conda-forge builds {name} {new[0].version} for native Windows (win-64: CUDA "
                         f"{', '.join(sorted({b.cuda for b in new}))}, pytorch {', '.join(sorted({b.built_against or 'unknown' for b in new}))}, Python "
                         f"{pythons[0]}-{pythons[-1]}), for a conda env whose pytorch is conda-forge's",
                         f"conda install -c conda-forge {name} (in that env)"))
    return out


def driver_checks(host: HostFacts) -> list[Check]:
    nv = host.nvidia
    if nv.driver:
        gpus = ", ".join(f"{g.name} (sm {g.compute_capability})" for g in nv.gpus) or "GPU list unavailable"
        return [Check("nvidia-driver", "pass", f"driver {nv.driver} (runs CUDA up to {nv.max_cuda}); {gpus}")]
    return [Check("nvidia-driver", "fail", "no NVIDIA driver found (" + "; ".join(nv.notes) + ")",
                  "install the NVIDIA driver, or run on the GPU server itself; mambaenv resolve can still work out wheels for it")]


def torch_checks(pyenv: PyEnvFacts, host: HostFacts) -> list[Check]:
    env = pyenv.target()
    if env.torch is None:
        return [Check("torch", "fail", f"torch is not installed in {pyenv.python_path}",
                      "install a CUDA build of torch first, or let mambaenv install --new-env make an env")]
    if env.torch_hip:
        return [Check("torch", "fail", f"torch {env.torch} is a ROCm build", "upstream publishes no ROCm wheels; build from source")]
    if env.torch_cuda is None:
        return [Check("torch", "fail", f"torch {env.torch} is a CPU-only build",
                      "install a CUDA build, e.g. pip install torch --index-url " + torch_index_for("12.6"))]
    abi = {True: "TRUE", False: "FALSE", None: "unknown"}[env.cxx11_abi]
    out = [Check("torch", "pass", f"torch {env.torch}, CUDA {env.torch_cuda}, cxx11abi {abi}")]
    if host.nvidia.driver:
        out.append(Check(*driver_vs_torch(host.nvidia.driver, host.nvidia.max_cuda, env.torch_cuda)))
    return out


def glibc_check(glibc: str | None) -> Check | None:
    if not glibc:
        return None
    if _v(glibc) < _v(BUILD_GLIBC):
        return Check("glibc", "warn", f"glibc {glibc} is older than the {BUILD_GLIBC} upstream wheels are built with; "
                     "imports may fail with 'GLIBC_2.xx not found'",
                     "mambaenv install checks each wheel's needs; otherwise use mambaenv docker or mambaenv build")
    return Check("glibc", "pass", f"glibc {glibc}")


def python_check(env: TargetEnv, pyenv: PyEnvFacts) -> Check:
    if _v(env.python) < _v(OLDEST_PYTHON):
        return Check("python", "fail", f"Python {env.python} is too old",
                     f"use Python {OLDEST_PYTHON} or newer (upstream wheels start at cp37; newer releases build cp310 and up)")
    return Check("python", "pass", f"Python {env.python} at {pyenv.python_path}")


def _taken(p: PackagePlan, broken: set[str]):
    """The plan's choice, passing over an installed build that the extension probe found broken."""
    return next((c for c in p.candidates if c.fits and not (c.origin == "installed" and p.package in broken)), None)


def wheel_checks(plans: list[PackagePlan], working: set[str], broken: set[str] = frozenset()) -> list[Check]:
    """One line per package: the wheel the plan takes, or why none fits and the first way on."""
    out = []
    for p in plans:
        name, c = f"wheel:{p.package}", _taken(p, broken)
        if c is not None and c.origin == "installed":
            out.append(Check(name, "info", c.reason))
        elif c is not None and c.origin == "conda-forge":
            out.append(Check(name, "info", f"conda-forge's {c.requirement} fits this env, whose pytorch is conda-forge's (predicted "
                             "from the feedstock): install it with conda", c.command))
        elif c is not None and c.origin == "local-build":
            out.append(Check(name, "info", c.reason, f"mambaenv install --offline-wheel {c.local_path}"))
        elif c is not None:
            out.append(Check(name, "pass", f"{c.filename} ({c.asset.tag if c.asset else c.origin})"))
        elif p.package in working:  # a working build makes the missing prebuilt wheel a fact, not a problem
            out.append(Check(name, "info", f"{p.reason} (the installed build works, so none is needed)"))
        else:
            top = p.alternatives[0] if p.alternatives else None
            fix = top.command if top and top.command else (top.summary if top else None)
            out.append(Check(name, "fail", p.reason, None if fix == p.reason else fix))
    return out


def nvcc_check(host: HostFacts, env: TargetEnv) -> Check:
    tk, major = host.toolkit, env.torch_cuda.split(".")[0]
    if not tk.version:
        return Check("nvcc", "fail", "no CUDA toolkit (nvcc): a source build is the only path and needs one",
                     f"install CUDA toolkit {major}.x and set CUDA_HOME, or use a torch that has wheels")
    if tk.version.split(".")[0] != major:
        return Check("nvcc", "fail", f"nvcc {tk.version} and torch's CUDA {env.torch_cuda} differ in major version; a source build would fail",
                     f"install CUDA toolkit {major}.x and point CUDA_HOME at it")
    return Check("nvcc", "pass", f"nvcc {tk.version} at {tk.nvcc} matches torch's CUDA major: a local-architecture build can run")


def listed_extension_checks(pyenv: PyEnvFacts) -> list[Check]:
    out = []
    for pkg, module in ((p.name, p.extensions[0]) for p in PACKAGE_TABLE):
        ver = pyenv.package_version(pkg)
        if ver and not pyenv.extension(module):
            out.append(Check(f"installed:{pkg}", "warn", f"{pkg} {ver} is installed without its CUDA extension ({module})",
                             "a pure-Python build got installed; reinstall with mambaenv install"))
    return out


def docker_check(host: HostFacts) -> Check | None:
    """The engine mambaenv docker would use (Docker or Podman, how it was chosen) and whether GPUs reach its containers."""
    dk = host.docker
    if dk is None:
        return None
    if not dk.reachable:
        why = dk.note.split(": ", 1)[-1] if dk.note else None  # what the engine query said, without the exception's type
        return Check("docker", "skip", "no container engine reachable" + (f": {why}" if why else "") + (f" ({dk.cli} is installed)" if dk.cli else ""))
    engine = f"{'Podman' if dk.kind == 'podman' else 'Docker'} {dk.server_version}" + (" rootless" if dk.rootless else "")
    how = f"{engine} reachable ({'API at ' + dk.address if dk.via == 'api' else 'its CLI, no API service'}; {dk.chosen_by})"
    if dk.gpu_method == "runtime":
        return Check("docker", "pass", f"{how}, GPUs through the NVIDIA runtime")
    if dk.gpu_method == "cdi":
        return Check("docker", "pass", f"{how}, GPUs through CDI ({', '.join(f'{dk.gpu_kind}={n}' for n in dk.gpu_devices)})")
    cdi = f"no CDI spec for {dk.gpu_kind} in {', '.join(dk.cdi_dirs)}" if dk.cdi_dirs else "no CDI"
    return Check("docker", "warn", f"{how}; GPUs cannot reach its containers ({cdi if dk.kind == 'podman' else 'no NVIDIA runtime, ' + cdi})",
                 dk.gpu_fix)


def conda_check(host: HostFacts) -> Check:
    managers = [name for name, path in host.conda.items() if path]
    return Check("conda", "pass" if managers else "skip", ("found " + ", ".join(managers)) if managers
                 else "no conda, mamba or micromamba: new envs will be venvs")


def torch_moved_check(pyenv: PyEnvFacts, env: TargetEnv) -> Check | None:
    record = pyenv.raw.get("record") or {}
    if record.get("torch") and env.torch and not same_torch(record["torch"], env.torch):
        return Check("torch-moved", "warn", f"mamba wheels were installed for torch {record['torch']}, now torch is {env.torch}",
                     "reinstall the matching wheels with mambaenv install")
    return None


def aimed_plans(plans: list[PackagePlan], named: NamedTarget | None) -> list[PackagePlan]:
    """The plans with each alternative's command aimed at the named env (doctor prints them under each package)."""
    if named is None:
        return plans
    return [dataclasses.replace(p, upstream=dataclasses.replace(p.upstream, alternatives=[
        dataclasses.replace(a, command=aim_fix(a.command, named)) for a in p.upstream.alternatives])) for p in plans]


def gpu_arch_checks(gpus, plans: list[PackagePlan]) -> list[Check]:
    """Per chosen file: does its GPU code (from the catalog or the wheelhouse) run on every GPU here."""
    caps = sorted({g.compute_capability for g in gpus if g.compute_capability})
    if not caps:
        return []
    names = {g.compute_capability: g.name for g in gpus if g.compute_capability}
    label = lambda c: f"{names[c]} (sm_{sm(c)})"  # noqa: E731
    out = []
    for p in plans:
        name, c = f"gpu-arch:{p.package}", p.chosen
        w = c.asset if c is not None else None
        if c is None:
            if p.blocked_by == "gpu-arch":
                out.append(Check(name, "fail", p.reason, f"mambaenv build --package {p.package}"))
            continue
        if w is None:  # installed or a local build: judged from its own files, checked under installed:/wheel:
            continue
        if w.archs is None and "gpu-arch" not in c.verdict.unchecked:
            out.append(Check(name, "pass", f"{w.filename}: every toolkit its build could have used compiles code for "
                             + ", ".join(label(x) for x in caps)))
        elif w.archs is None:
            out.append(Check(name, "warn", f"{w.filename}: which GPUs its code runs on is unknown; "
                             f"{', '.join(label(x) for x in caps)} not checked",
                             "after download: mambaenv inspect WHEEL shows the archs it carries"))
        else:
            out.append(Check(name, "pass", f"{w.filename} carries {archs_text(w.archs)}: runs on " + ", ".join(label(x) for x in caps)))
    if not plans or not out:
        out.append(Check("gpu-arch", "pass", "GPU architecture " + ", ".join(caps) + " detected"))
    return out


def has_working_path(checks: list[Check], plans: list[PackagePlan]) -> bool:
    """True when the env can get every package: installed and working, a file that fits, or a viable local build."""
    # docker/conda are options, not needs; a wheel without code for this GPU leaves the local build (nvcc check)
    blocking = {"platform", "nvidia-driver", "torch", "driver-vs-torch", "python"}
    if any(c.status == "fail" and c.name in blocking for c in checks):
        return False
    working = {c.name.split(":", 1)[1] for c in checks if c.name.startswith("installed:") and c.status == "pass"}
    if all(p.package in working or any(c.fits and c.origin in INSTALLABLE for c in p.candidates) for p in plans):
        return True
    return any(c.name == "nvcc" and c.status == "pass" for c in checks)


def same_torch(a: str, b: str) -> bool:
    """2.11.0 and 2.11.0+cu130 are one torch (a record or freeze may drop the local part); cu121 and cu128 are not."""
    try:
        va, vb = _v(a), _v(b)
    except InvalidVersion:
        return a == b
    if va.local and vb.local:
        return va == vb
    return va.public == vb.public


def driver_vs_torch(driver: str, max_cuda: str | None, torch_cuda: str) -> tuple:
    """Pass on NVIDIA's minor-version compatibility floor; the strict per-release minimum is information."""
    runs, strict = driver_runs(driver, torch_cuda)
    need = min_driver_for_cuda(torch_cuda)
    if strict:
        return "driver-vs-torch", "pass", f"driver {driver} runs torch's CUDA {torch_cuda}"
    if runs:
        return ("driver-vs-torch", "pass",
                f"driver {driver} runs torch's CUDA {torch_cuda} through minor-version compatibility (CUDA {torch_cuda.split('.')[0]}.x "
                f"needs >= {compat_floor(torch_cuda)}); the strict minimum {need} matters only for PTX JIT or newer driver APIs, "
                "not for upstream wheels (SASS)")
    floor = compat_floor(torch_cuda) or need
    return ("driver-vs-torch", "fail", f"driver {driver} runs CUDA up to {max_cuda}, torch is built for CUDA {torch_cuda}",
            f"upgrade the driver to >= {floor}, or install a torch built for CUDA {max_cuda}")


def _archs(sass: list[str], ptx: list[str]) -> str:
    names = [f"sm_{a.replace('.', '')}" for a in sass] + [f"compute_{a.replace('.', '')} (PTX)" for a in ptx]
    return ", ".join(names) if names else "unknown architectures"


def installed_checks(installed: list[InstalledPackage], env: TargetEnv, gpu_caps: list[str], probe_error: str | None = None) -> list[Check]:
    """One line per installed package: does its extension load, does its build fit this torch (compat), does it cover this GPU."""
    if probe_error:
        return [Check("installed", "warn", f"could not check the installed packages: {probe_error}",
                      "run python -c 'import torch, mamba_ssm' in the env to see the error")]
    return [installed_check(p, env, gpu_caps) for p in installed]


def installed_check(p: InstalledPackage, env: TargetEnv, gpu_caps: list[str]) -> Check:
    name, label = f"installed:{p.package}", f"{p.package} {p.version}"
    if not p.extension:
        return Check(name, "warn", f"{label} is installed without its CUDA extension ({p.module}): a pure-Python build",
                     "reinstall a real build: mambaenv install (a prebuilt wheel) or mambaenv build")
    if not p.loaded:
        error = (p.load_error or "it did not load").strip().splitlines()[-1][:240]
        d = explain(p.load_error or "")
        return Check(name, "fail", f"{label} is installed but {p.module} does not load: {error}", d.fix if d else "reinstall it with mambaenv install")
    facts = compat.WheelFacts.of_installed(label, local_of_version(p.version), p.sass, p.ptx)
    verdict = compat.evaluate(facts, dataclasses.replace(env, gpu_caps=tuple(gpu_caps)), compat.rules_except("machine", "python", "glibc"))
    built = _archs(p.sass, p.ptx)
    if "gpu-arch" in verdict.failed:
        missing = [c for c in gpu_caps if not compat.runs_on(facts.archs or (), facts.ptx, sm(c))]
        return Check(name, "fail", f"{label} has code for {built}; this GPU is sm_{sm(missing[0])}: "
                     "'no kernel image is available' at the first kernel", "mambaenv build --arch native")
    if verdict.failed:
        return Check(name, "warn", f"{label} loads, but it was built for another env: {'; '.join(verdict.messages)}",
                     "reinstall the build for this torch: mambaenv install, or mambaenv build")
    checked = f" (checked at {p.checked_at}; unchanged since)" if p.checked_at else ""
    return Check(name, "pass", f"installed: {label}, built for {built}, matches torch {env.torch}{checked}")


def smoke_check(last: dict) -> Check:
    """The last recorded smoke test of this env (mambaenv smoke writes it)."""
    when = last.get("when", "an unknown time")
    if last.get("ok"):
        return Check("smoke", "pass", f"the last smoke test passed ({when})")
    failed = [s.get("name", "?") for s in last.get("steps", []) if s.get("status") == "fail"]
    return Check("smoke", "fail" if failed else "warn",
                 f"the last smoke test did not pass ({when})" + (f": {', '.join(failed)} failed" if failed else ""),
                 "mambaenv smoke shows the error and its explanation")
