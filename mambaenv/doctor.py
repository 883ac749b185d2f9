"""The doctor's checks: pure functions over detected facts and resolved choices."""
from __future__ import annotations

from packaging.version import Version

from mambaenv.detect.driver_cuda import driver_supports, min_driver_for_cuda
from mambaenv.detect.host import HostFacts
from mambaenv.detect.pyenv import PyEnvFacts
from mambaenv.facts import Check
from mambaenv.resolve import Choice

# Upstream wheels are built on Ubuntu 22.04 runners (20.04 before mid-2025) and tagged linux_*,
# so pip cannot check glibc for us.
UPSTREAM_BUILD_GLIBC = "2.35"
OLDEST_PYTHON = "3.7"


def _v(text: str) -> Version:
    return Version(text)


def doctor_checks(host: HostFacts, pyenv: PyEnvFacts, choices: list[Choice]) -> list[Check]:
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
        add("torch", "fail", f"torch {env.torch} is a CPU-only build", "install a CUDA build, e.g. pip install torch --index-url https://download.pytorch.org/whl/cu126")
    else:
        abi = {True: "TRUE", False: "FALSE", None: "unknown"}[env.cxx11_abi]
        add("torch", "pass", f"torch {env.torch}, CUDA {env.torch_cuda}, cxx11abi {abi}")

    if env.torch_cuda and nv.driver:
        if driver_supports(nv.driver, env.torch_cuda):
            add("driver-vs-torch", "pass", f"driver {nv.driver} runs torch's CUDA {env.torch_cuda}")
        else:
            need = min_driver_for_cuda(env.torch_cuda)
            add("driver-vs-torch", "fail", f"driver {nv.driver} runs CUDA up to {nv.max_cuda}, torch needs CUDA {env.torch_cuda}",
                f"upgrade the driver to >= {need}, or install a torch built for CUDA {nv.max_cuda}")

    checks += gpu_arch_checks(nv.gpus, choices)

    if host.glibc:
        if _v(host.glibc) < _v(UPSTREAM_BUILD_GLIBC):
            add("glibc", "warn", f"glibc {host.glibc} is older than the {UPSTREAM_BUILD_GLIBC} upstream wheels are built with; "
                "imports may fail with 'GLIBC_2.xx not found'",
                "mambaenv install checks each wheel's needs; otherwise use mambaenv docker or mambaenv build")
        else:
            add("glibc", "pass", f"glibc {host.glibc}")

    if _v(env.python) < _v(OLDEST_PYTHON):
        add("python", "fail", f"Python {env.python} is too old", "use Python 3.9 or newer")
    else:
        add("python", "pass", f"Python {env.python} at {pyenv.python_path}")

    no_wheel = [c for c in choices if c.wheel is None]
    for c in choices:
        if c.wheel:
            add(f"wheel:{c.package}", "pass", f"{c.wheel.filename} ({c.wheel.tag})")
        else:
            top = c.alternatives[0] if c.alternatives else None
            fix = top.command if top and top.command else (top.summary if top else None)
            add(f"wheel:{c.package}", "fail", c.reason, None if fix == c.reason else fix)

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

    for pkg, module in (("mamba_ssm", "selective_scan_cuda"), ("causal_conv1d", "causal_conv1d_cuda")):
        ver = pyenv.package_version(pkg)
        if ver and not pyenv.extension(module):
            add(f"installed:{pkg}", "warn", f"{pkg} {ver} is installed without its CUDA extension ({module})",
                "a pure-Python build got installed; reinstall with mambaenv install")
    dk = host.docker
    if dk is not None:
        if dk.reachable:
            gpu = "with the NVIDIA runtime" if dk.nvidia_runtime else "without the NVIDIA runtime (GPU containers will not start)"
            add("docker", "pass" if dk.nvidia_runtime else "warn", f"Docker {dk.server_version} reachable, {gpu}",
                None if dk.nvidia_runtime else "install nvidia-container-toolkit; sudo nvidia-ctk runtime configure --runtime=docker")
        else:
            add("docker", "skip", "no Docker daemon reachable" + (" (the docker CLI is installed)" if dk.cli else ""))
    managers = [name for name, path in host.conda.items() if path]
    add("conda", "pass" if managers else "skip", ("found " + ", ".join(managers)) if managers else "no conda, mamba or micromamba: new envs will be venvs")
    record = pyenv.raw.get("record") or {}
    if record.get("torch") and env.torch and record["torch"] != env.torch:
        add("torch-moved", "warn", f"mamba wheels were installed for torch {record['torch']}, now torch is {env.torch}",
            "reinstall the matching wheels with mambaenv install")
    return checks


def gpu_arch_checks(gpus, choices: list[Choice]) -> list[Check]:
    """Per chosen wheel: does its GPU code (SASS only, from the catalog) run on every GPU here."""
    from mambaenv.compat import archs_run_on, archs_text, sm

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
    """True when the env can get both packages: a wheel for each, or a viable local build."""
    # docker/conda are options, not needs; a wheel without code for this GPU leaves the local build (nvcc check)
    blocking = {"platform", "nvidia-driver", "torch", "driver-vs-torch", "python"}
    if any(c.status == "fail" and c.name in blocking for c in checks):
        return False
    if all(c.wheel for c in choices):
        return True
    return any(c.name == "nvcc" and c.status == "pass" for c in checks)
