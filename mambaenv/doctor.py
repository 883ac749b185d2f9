"""The doctor's checks: pure functions over detected facts and resolved choices."""
from __future__ import annotations

import dataclasses

from packaging.version import InvalidVersion, Version

from mambaenv.compat import archs_run_on, archs_text, sm
from mambaenv.detect.driver_cuda import compat_floor, driver_runs, min_driver_for_cuda
from mambaenv.detect.extensions import InstalledPackage, parse_local_tag, runs_on
from mambaenv.detect.host import HostFacts
from mambaenv.detect.pyenv import PyEnvFacts
from mambaenv.explain import explain
from mambaenv.facts import Check
from mambaenv.fix_target import NamedTarget, aim_fix
from mambaenv.resolve import Choice
from mambaenv.upstream import BUILD_GLIBC, EXTENSION_MODULES, torch_index_for

OLDEST_PYTHON = "3.7"


def _v(text: str) -> Version:
    return Version(text)


def doctor_checks(host: HostFacts, pyenv: PyEnvFacts, choices: list[Choice], installed: list[InstalledPackage] | None = None,
                  installed_error: str | None = None, smoke_last: dict | None = None, local_builds: dict | None = None,
                  named: NamedTarget | None = None) -> list[Check]:
    """``local_builds``: {package: wheel} that mambaenv build made for this env and keeps in its cache.
    ``named``: the env doctor was pointed at with --python/--env; each fix that is a command then names it."""
    checks: list[Check] = []
    env = pyenv.target()
    add = lambda *a, **k: checks.append(Check(*a, **k))  # noqa: E731

    if host.system != "Linux":
        add("platform", "fail", f"{host.system} has no upstream wheels", "use WSL2 (Ubuntu) or Docker with the NVIDIA runtime")
    elif host.wsl:
        add("platform", "pass", "Linux under WSL2: the Linux wheels work with the Windows NVIDIA driver")
    elif host.jetson:
        add("platform", "warn", f"Jetson ({host.jetson}): upstream wheels are aarch64 server builds and may not match JetPack's torch",
            "build from source with mambaenv build")
    else:
        add("platform", "pass", f"{host.system} {host.machine} ({host.os_release or 'unknown distribution'})")

    nv = host.nvidia
    if nv.driver:
        gpus = ", ".join(f"{g.name} (sm {g.compute_capability})" for g in nv.gpus) or "GPU list unavailable"
        add("nvidia-driver", "pass", f"driver {nv.driver} (runs CUDA up to {nv.max_cuda}); {gpus}")
    else:
        add("nvidia-driver", "fail", "no NVIDIA driver found (" + "; ".join(nv.notes) + ")",
            "install the NVIDIA driver, or run on the GPU server itself; mambaenv resolve can still work out wheels for it")

    if env.torch is None:
        add("torch", "fail", f"torch is not installed in {pyenv.python_path}",
            "install a CUDA build of torch first, or let mambaenv install --new-env make an env")
    elif env.torch_hip:
        add("torch", "fail", f"torch {env.torch} is a ROCm build", "upstream publishes no ROCm wheels; build from source")
    elif env.torch_cuda is None:
        add("torch", "fail", f"torch {env.torch} is a CPU-only build", "install a CUDA build, e.g. pip install torch --index-url " + torch_index_for("12.6"))
    else:
        abi = {True: "TRUE", False: "FALSE", None: "unknown"}[env.cxx11_abi]
        add("torch", "pass", f"torch {env.torch}, CUDA {env.torch_cuda}, cxx11abi {abi}")

    if env.torch_cuda and nv.driver:
        add(*driver_vs_torch(nv.driver, nv.max_cuda, env.torch_cuda))

    checks += gpu_arch_checks(nv.gpus, choices)

    if host.glibc:
        if _v(host.glibc) < _v(BUILD_GLIBC):
            add("glibc", "warn", f"glibc {host.glibc} is older than the {BUILD_GLIBC} upstream wheels are built with; "
                "imports may fail with 'GLIBC_2.xx not found'",
                "mambaenv install checks each wheel's needs; otherwise use mambaenv docker or mambaenv build")
        else:
            add("glibc", "pass", f"glibc {host.glibc}")

    if _v(env.python) < _v(OLDEST_PYTHON):
        add("python", "fail", f"Python {env.python} is too old",
            f"use Python {OLDEST_PYTHON} or newer (upstream wheels start at cp37; newer releases build cp310 and up)")
    else:
        add("python", "pass", f"Python {env.python} at {pyenv.python_path}")

    no_wheel = [c for c in choices if c.wheel is None]
    working = set()
    if installed is not None:
        found = installed_checks(installed, env, [g.compute_capability for g in nv.gpus if g.compute_capability], installed_error)
        checks.extend(found)
        working = {c.name.split(":", 1)[1] for c in found if c.name.startswith("installed:") and c.status == "pass"}
    for c in choices:
        if c.wheel:
            add(f"wheel:{c.package}", "pass", f"{c.wheel.filename} ({c.wheel.tag})")
        elif c.package in working:  # a working local build makes the missing upstream wheel a fact, not a problem
            add(f"wheel:{c.package}", "info", f"{c.reason} (the installed build works, so none is needed)")
        elif (local_builds or {}).get(c.package):
            path = local_builds[c.package]
            add(f"wheel:{c.package}", "info", f"{c.reason}; a local build for this env is in the cache: {path.name}",
                f"mambaenv install --offline-wheel {path}")
        else:
            top = c.alternatives[0] if c.alternatives else None
            fix = top.command if top and top.command else (top.summary if top else None)
            add(f"wheel:{c.package}", "fail", c.reason, None if fix == c.reason else fix)
    no_wheel = [c for c in no_wheel if c.package not in working and not (local_builds or {}).get(c.package)]

    if no_wheel and env.torch_cuda:
        tk = host.toolkit
        if not tk.version:
            add("nvcc", "fail", "no CUDA toolkit (nvcc): a source build is the only path and needs one",
                f"install CUDA toolkit {env.torch_cuda.split('.')[0]}.x and set CUDA_HOME, or use a torch that has wheels")
        elif tk.version.split(".")[0] != env.torch_cuda.split(".")[0]:
            add("nvcc", "fail", f"nvcc {tk.version} and torch's CUDA {env.torch_cuda} differ in major version; a source build would fail",
                f"install CUDA toolkit {env.torch_cuda.split('.')[0]}.x and point CUDA_HOME at it")
        else:
            add("nvcc", "pass", f"nvcc {tk.version} at {tk.nvcc} matches torch's CUDA major: a local-architecture build can run")

    if installed is None:  # no extension probe ran: say what the file listing shows
        for pkg, module in EXTENSION_MODULES.items():
            ver = pyenv.package_version(pkg)
            if ver and not pyenv.extension(module):
                add(f"installed:{pkg}", "warn", f"{pkg} {ver} is installed without its CUDA extension ({module})",
                    "a pure-Python build got installed; reinstall with mambaenv install")
    if smoke_last is not None:
        checks.append(smoke_check(smoke_last))
    dk = host.docker
    if dk is not None:
        if dk.reachable:
            gpu = "with the NVIDIA runtime" if dk.nvidia_runtime else "without the NVIDIA runtime (GPU containers will not start)"
            add("docker", "pass" if dk.nvidia_runtime else "warn", f"Docker {dk.server_version} reachable, {gpu}",
                None if dk.nvidia_runtime else "install nvidia-container-toolkit; sudo nvidia-ctk runtime configure --runtime=docker")
        else:
            why = dk.note.split(": ", 1)[-1] if dk.note else None  # what the engine query said, without the exception's type
            add("docker", "skip", "no Docker daemon reachable" + (f": {why}" if why else "") + (" (the docker CLI is installed)" if dk.cli else ""))
    managers = [name for name, path in host.conda.items() if path]
    add("conda", "pass" if managers else "skip", ("found " + ", ".join(managers)) if managers else "no conda, mamba or micromamba: new envs will be venvs")
    record = pyenv.raw.get("record") or {}
    if record.get("torch") and env.torch and not same_torch(record["torch"], env.torch):
        add("torch-moved", "warn", f"mamba wheels were installed for torch {record['torch']}, now torch is {env.torch}",
            "reinstall the matching wheels with mambaenv install")
    return [dataclasses.replace(c, fix=aim_fix(c.fix, named)) for c in checks]


def aimed_choices(choices: list[Choice], named: NamedTarget | None) -> list[Choice]:
    """The choices with each alternative's command aimed at the named env (doctor prints them under each package)."""
    if named is None:
        return choices
    return [dataclasses.replace(c, alternatives=[dataclasses.replace(a, command=aim_fix(a.command, named)) for a in c.alternatives])
            for c in choices]


def gpu_arch_checks(gpus, choices: list[Choice]) -> list[Check]:
    """Per chosen wheel: does its GPU code (SASS only, from the catalog) run on every GPU here."""
    caps = sorted({g.compute_capability for g in gpus if g.compute_capability})
    if not caps:
        return []
    names = {g.compute_capability: g.name for g in gpus if g.compute_capability}
    label = lambda c: f"{names[c]} (sm_{sm(c)})"  # noqa: E731
    out = []
    for c in choices:
        name = f"gpu-arch:{c.package}"
        w = c.wheel
        if w is None:
            if "GPU code" in c.reason:
                out.append(Check(name, "fail", c.reason, f"mambaenv build --package {c.package}"))
            continue
        if w.archs is None and "gpu-arch" not in c.unchecked:
            out.append(Check(name, "pass", f"{w.filename}: every toolkit its build could have used compiles code for "
                             + ", ".join(label(x) for x in caps)))
            continue
        if w.archs is None:
            out.append(Check(name, "warn", f"{w.filename}: which GPUs its code runs on is unknown; "
                             f"{', '.join(label(x) for x in caps)} not checked",
                             "after download: mambaenv inspect WHEEL shows the archs it carries"))
            continue
        missing = [x for x in caps if not archs_run_on(w.archs, sm(x))]
        if missing:
            out.append(Check(name, "fail", f"{w.filename} carries GPU code for {archs_text(w.archs)} only; "
                             f"{', '.join(label(x) for x in missing)} cannot run it (no kernel image)",
                             f"mambaenv build --package {c.package}"))
        else:
            out.append(Check(name, "pass", f"{w.filename} carries {archs_text(w.archs)}: runs on "
                             + ", ".join(label(x) for x in caps)))
    if not choices or not out:
        out.append(Check("gpu-arch", "pass", "GPU architecture " + ", ".join(caps) + " detected"))
    return out


def has_working_path(checks: list[Check], choices: list[Choice]) -> bool:
    """True when the env can get both packages: installed and working, a wheel for each, or a viable local build."""
    # docker/conda are options, not needs; a wheel without code for this GPU leaves the local build (nvcc check)
    blocking = {"platform", "nvidia-driver", "torch", "driver-vs-torch", "python"}
    if any(c.status == "fail" and c.name in blocking for c in checks):
        return False
    working = {c.name.split(":", 1)[1] for c in checks if c.name.startswith("installed:") and c.status == "pass"}
    # a missing upstream wheel said as information: the installed build works, or a local build is in the cache
    working |= {c.name.split(":", 1)[1] for c in checks if c.name.startswith("wheel:") and c.status == "info"}
    if all(c.wheel or c.package in working for c in choices):
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


def installed_checks(installed: list[InstalledPackage], env, gpu_caps: list[str], probe_error: str | None = None) -> list[Check]:
    """One line per installed package: does its extension load, do its tags fit this torch, does it cover this GPU."""
    if probe_error:
        return [Check("installed", "warn", f"could not check the installed packages: {probe_error}",
                      "run python -c 'import torch, mamba_ssm' in the env to see the error")]
    out = []
    for p in installed:
        name, label = f"installed:{p.package}", f"{p.package} {p.version}"
        if not p.extension:
            out.append(Check(name, "warn", f"{label} is installed without its CUDA extension ({p.module}): a pure-Python build",
                             "reinstall a real build: mambaenv install (a prebuilt wheel) or mambaenv build"))
            continue
        if not p.loaded:
            error = (p.load_error or "it did not load").strip().splitlines()[-1][:240]
            d = explain(p.load_error or "")
            out.append(Check(name, "fail", f"{label} is installed but {p.module} does not load: {error}",
                             d.fix if d else "reinstall it with mambaenv install"))
            continue
        problems = []
        tag = parse_local_tag(p.version)
        if tag and env.torch_cuda and tag["cuda_major"] != env.cuda_major:
            problems.append(f"built for CUDA {tag['cuda_major']}, torch is CUDA {env.torch_cuda}")
        if tag and env.torch and tag["torch"] != env.torch_major_minor and int(tag["torch"].split(".")[0]) < 20:  # 20+: an NGC YY.MM
            problems.append(f"built for torch {tag['torch']}, this env has torch {env.torch}")
        if tag and tag["cxx11_abi"] is not None and env.cxx11_abi is not None and tag["cxx11_abi"] != env.cxx11_abi:
            problems.append(f"built cxx11abi{'TRUE' if tag['cxx11_abi'] else 'FALSE'}, torch is the other ABI")
        uncovered = [c for c in gpu_caps if (p.sass or p.ptx) and not runs_on(p.sass, p.ptx, c)]
        built = _archs(p.sass, p.ptx)
        if uncovered:
            out.append(Check(name, "fail", f"{label} has code for {built}; this GPU is sm_{uncovered[0].replace('.', '')}: "
                             "'no kernel image is available' at the first kernel", "mambaenv build --arch native"))
        elif problems:
            out.append(Check(name, "warn", f"{label} loads, but is {'; '.join(problems)}",
                             "reinstall the build for this torch: mambaenv install, or mambaenv build"))
        else:
            checked = f" (checked at {p.checked_at}; unchanged since)" if p.checked_at else ""
            out.append(Check(name, "pass", f"installed: {label}, built for {built}, matches torch {env.torch}{checked}"))
    return out


def smoke_check(last: dict) -> Check:
    """The last recorded smoke test of this env (mambaenv smoke writes it)."""
    when = last.get("when", "an unknown time")
    if last.get("ok"):
        return Check("smoke", "pass", f"the last smoke test passed ({when})")
    failed = [s.get("name", "?") for s in last.get("steps", []) if s.get("status") == "fail"]
    return Check("smoke", "fail" if failed else "warn",
                 f"the last smoke test did not pass ({when})" + (f": {', '.join(failed)} failed" if failed else ""),
                 "mambaenv smoke shows the error and its explanation")
